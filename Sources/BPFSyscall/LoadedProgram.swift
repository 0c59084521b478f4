import ELFReader

/// A program living in the kernel (verified, not yet attached). Closing the
/// `LoadedObject` it came from closes it for every holder of this reference;
/// an attachment keeps the program running in the kernel on its own.
public final class LoadedProgram: Sendable {
    public let name: String
    public let sectionName: String
    public let kind: ProgramKind
    public let descriptor: SharedFileDescriptor
    /// The program's fd, -1 once closed.
    public var fd: Int32 { descriptor.rawValue }
    /// Whether it was loaded with BTF (func_info and line_info: source lines in the verifier log).
    public let hasBTF: Bool
    let syscalls: Syscalls

    init(name: String, sectionName: String, kind: ProgramKind, fd: consuming FileDescriptor, hasBTF: Bool,
         syscalls: Syscalls) {
        self.name = name
        self.sectionName = sectionName
        self.kind = kind
        self.descriptor = SharedFileDescriptor(fd)
        self.hasBTF = hasBTF
        self.syscalls = syscalls
    }

    /// Closes the program's fd (the kernel unloads it once nothing is attached).
    public func close() { descriptor.close() }

    /// What the kernel says about it now: id, run count and run time (with statistics enabled), ...
    public func info() throws -> ProgramInfo {
        try withContext("read info of program `\(name)`") { try syscalls.programInfo(fd) }
    }

    /// The instructions the kernel runs, after the verifier's rewrites (what `bpftool prog dump xlated` shows).
    public func translatedInstructions() throws -> [Instruction] {
        try withContext("read translated instructions of program `\(name)`") {
            try Instruction.slots(of: try syscalls.translatedInstructions(fd), context: "translated instructions of `\(name)`")
        }
    }

    /// Attaches where its section says: a tracepoint's perf event, or a tracing program's BTF target.
    public func attachAnyKind(method: AttachMethod = .automatic, tracefs: Tracefs? = nil) throws -> ProgramAttachment {
        if case .tracing(let attach, let target) = kind {
            return .tracing(try TracingAttachment.attach(programFD: fd, attach, target: target, syscalls: syscalls))
        }
        return .tracepoint(try attach(method: method, tracefs: tracefs))
    }

    /// Attaches to the tracepoint its section names (`tracepoint/<category>/<name>`).
    public func attach(method: AttachMethod = .automatic, tracefs: Tracefs? = nil) throws -> TracepointAttachment {
        guard case .tracepoint(let category, let tracepoint) = kind else {
            throw ContextError("attach program `\(name)`",
                               ProgramSpecError(reason: "section `\(sectionName)` names no tracepoint"))
        }
        return try TracepointAttachment.attach(programFD: fd, category: category, name: tracepoint,
                                               method: method, tracefs: tracefs, syscalls: syscalls)
    }
}

public struct ProgramSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// Turns a `ProgramSpec` into a kernel program: relocate, then load.
enum ProgramLoading {
    static func load(_ spec: ProgramSpec, license: String, kernelVersion: UInt32, mapFDs: [String: Int32],
                     btfFD: Int32?, kernelBTF: CORETarget?, logSizes: VerifierLogSizes,
                     syscalls: Syscalls) throws -> LoadedProgram {
        do {
            return try loadWithContext(spec, license: license, kernelVersion: kernelVersion, mapFDs: mapFDs,
                                       btfFD: btfFD, kernelBTF: kernelBTF, logSizes: logSizes, syscalls: syscalls)
        } catch let error as ContextError where error.underlying is VerifierError {
            // "program `x` rejected by the verifier" already names the program.
            throw error.underlying
        }
    }

    private static func loadWithContext(_ spec: ProgramSpec, license: String, kernelVersion: UInt32,
                                        mapFDs: [String: Int32], btfFD: Int32?, kernelBTF: CORETarget?,
                                        logSizes: VerifierLogSizes, syscalls: Syscalls) throws -> LoadedProgram {
        try withContext("load program `\(spec.name)`") {
            guard let type = spec.kind.programType else {
                throw ProgramSpecError(reason: "section `\(spec.sectionName)` is not a program type this loader knows")
            }
            let instructions = try Relocator.apply(spec.instructions, relocations: spec.relocations, mapFDs: mapFDs)
            var request = makeRequest(spec, type: type, instructions: instructions, license: license,
                                      kernelVersion: kernelVersion, btfFD: btfFD)
            if case .tracing(let attach, let target) = spec.kind {
                request.expectedAttachType = attach.rawValue
                request.attachBTFID = try attachBTFID(attach, target: target, kernelBTF: kernelBTF)
            }
            let fd = try syscalls.loadProgram(request, displayName: spec.name, logSizes: logSizes)
            return LoadedProgram(name: spec.name, sectionName: spec.sectionName, kind: spec.kind, fd: fd,
                                 hasBTF: request.btfFD != 0, syscalls: syscalls)
        }
    }

    /// The vmlinux type a tracing program attaches to: `btf_trace_<name>` for tp_btf, the
    /// function for fentry/fexit.
    static func attachBTFID(_ attach: TracingAttach, target: String, kernelBTF: CORETarget?) throws -> UInt32 {
        let (name, kind) = attach.attachType(target: target)
        guard let kernelBTF else {
            throw ProgramSpecError(reason: "\(attach.sectionPrefix) programs need the kernel's BTF (/sys/kernel/btf/vmlinux)")
        }
        guard let id = try kernelBTF.vmlinux.typeIDs(named: name, kindNumber: kind).first else {
            throw ProgramSpecError(reason: "this kernel's BTF has no \(kind == 8 ? "typedef" : "function") `\(name)`: "
                + "no \(attach.sectionPrefix) attach point `\(target)`")
        }
        return id
    }

    /// The load attributes, func_info and line_info in kernel layout (only with BTF: they index its types and strings).
    static func makeRequest(_ spec: ProgramSpec, type: UInt32, instructions: [Instruction], license: String,
                            kernelVersion: UInt32, btfFD: Int32?) -> ProgramLoadRequest {
        var request = ProgramLoadRequest(
            type: type, name: MapCreation.kernelObjectName(spec.name),
            instructions: instructions.flatMap(\.bytes), license: license, kernelVersion: kernelVersion)
        if let btfFD {
            request.btfFD = btfFD
            request.funcInfo = spec.funcInfo.flatMap { littleEndian($0.instructionOffset) + littleEndian($0.typeID) }
            request.lineInfo = spec.lineInfo.flatMap {
                littleEndian($0.instructionOffset) + littleEndian($0.fileNameOffset)
                    + littleEndian($0.lineOffset) + littleEndian($0.lineColumn)
            }
        }
        return request
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] { LoadedMap.littleEndian(value) }
}
