import ELFReader

/// What the loader may do, beyond the defaults.
public struct LoadOptions: Sendable {
    /// Global variables to set before the maps are created (e.g. `tracepoint_has_err` in `.rodata`).
    public var constants: [String: GlobalValue]
    /// Load only these programs, and create only the maps they use (as libbpf's autoload and
    /// autocreate); nil loads every program and creates every map. An object can carry one
    /// program per way of reaching user space and load the one this kernel supports.
    public var programs: Set<String>?
    /// `max_entries` to use instead of the spec's, by map name (e.g. a ring buffer's size).
    public var maxEntries: [String: UInt32]
    /// The BTF CO-RE relocations resolve against; nil reads the running kernel's
    /// (`RunningKernelBTF`), and only when a program to load has CO-RE relocations.
    public var coreTarget: CORETarget?
    /// Load the object's BTF (needed for func_info/line_info: source lines in verifier logs).
    public var loadBTF: Bool
    public var logSizes: VerifierLogSizes
    public var syscalls: Syscalls

    public init(constants: [String: GlobalValue] = [:], programs: Set<String>? = nil,
                maxEntries: [String: UInt32] = [:], coreTarget: CORETarget? = nil, loadBTF: Bool = true,
                logSizes: VerifierLogSizes = VerifierLogSizes(), syscalls: Syscalls = .kernel) {
        self.constants = constants
        self.programs = programs
        self.maxEntries = maxEntries
        self.coreTarget = coreTarget
        self.loadBTF = loadBTF
        self.logSizes = logSizes
        self.syscalls = syscalls
    }
}

/// What became of the object's BTF.
public enum BTFStatus: Sendable, Equatable, CustomStringConvertible {
    case loaded
    /// The object has no `.BTF` (built without `-g`).
    case absent
    /// Turned off in `LoadOptions`.
    case disabled
    /// The kernel refused it; everything was loaded without BTF. The reason includes the kernel's log.
    case rejected(reason: String)

    public var description: String {
        switch self {
        case .loaded: return "loaded"
        case .absent: return "absent from the object"
        case .disabled: return "disabled"
        case .rejected(let reason): return "rejected by the kernel, loaded without it: \(reason)"
        }
    }
}

/// An `ObjectSpec` made live: its BTF, maps and programs in the kernel.
/// Closing it (or dropping it) closes all of them, including through the
/// `LoadedMap`/`LoadedProgram` references handed out: stop their users first.
/// Attachments are separate: close them to detach (a program stays attached,
/// and so loaded, until its attachment closes).
public struct LoadedObject: ~Copyable, Sendable {
    public let maps: [LoadedMap]
    public let programs: [LoadedProgram]
    public let btf: FileDescriptor?
    public let btfStatus: BTFStatus
    /// Things that went differently from the spec but did not stop the load (log them).
    public let warnings: [String]

    /// Loads BTF, creates maps (globals set from `options.constants`, `.rodata` frozen),
    /// relocates and loads every program. Nothing is attached yet.
    /// On failure, whatever was already created is closed before the error is thrown.
    public init(loading spec: ObjectSpec, options: LoadOptions = LoadOptions()) throws {
        let syscalls = options.syscalls
        var warnings: [String] = []

        var btf: FileDescriptor? = nil
        var btfStatus = BTFStatus.disabled
        if options.loadBTF {
            if let btfSpec = spec.btf {
                do {
                    btf = try syscalls.loadBTF(btfSpec.kernelBytes, logSizes: options.logSizes)
                    btfStatus = .loaded
                } catch {
                    btfStatus = .rejected(reason: "\(error)")
                    warnings.append("BTF \(btfStatus)")
                }
            } else {
                btfStatus = .absent
            }
        }
        let btfFD = btf?.rawValue

        let chosen = try Self.programsToLoad(spec, options.programs)
        // The kernel's BTF, read only if a program needs it (CO-RE, or a tracing program's
        // attach_btf_id), and searched on a thread of its own while the maps are created.
        let needsKernelBTF = chosen.contains { !$0.coreRelocations.isEmpty || $0.kind.tracingAttach != nil }
        let kernelBTFRead = needsKernelBTF && options.coreTarget == nil
            ? Self.startReadingKernelBTF(for: chosen, in: spec) : nil
        let mapsCreated = Result { try Self.createMaps(spec, for: chosen, options: options, btfFD: btfFD, warnings: &warnings) }
        let kernelBTF = needsKernelBTF ? try options.coreTarget ?? kernelBTFRead?.value() : nil
        let maps = try mapsCreated.get()
        let mapFDs = Dictionary(maps.map { ($0.name, $0.fd) }, uniquingKeysWith: { _, last in last })

        // Relocated and verified side by side, each program on its own thread (CO-RE is pure and
        // per program: each decodes the kernel types it needs); on a failure the others are
        // closed as the results are dropped.
        let license = spec.license, kernelVersion = spec.kernelVersion ?? 0, logSizes = options.logSizes
        let outcomes = BackgroundWork.map(chosen, name: "load program") { chosenSpec in
            let programSpec = try Self.relocateCORE(chosenSpec, in: spec, target: kernelBTF)
            return try ProgramLoading.load(programSpec, license: license, kernelVersion: kernelVersion, mapFDs: mapFDs,
                                           btfFD: btfFD, kernelBTF: kernelBTF, logSizes: logSizes, syscalls: syscalls)
        }
        let programs = try outcomes.map { try $0.get() }

        self.maps = maps
        self.programs = programs
        self.btf = btf
        self.btfStatus = btfStatus
        self.warnings = warnings
    }

    /// The running kernel's BTF, searched for every name the load will look up.
    private static func startReadingKernelBTF(for programs: [ProgramSpec], in spec: ObjectSpec) -> BackgroundWork<CORETarget> {
        let names = kernelNames(programs, in: spec)
        return BackgroundWork(name: "kernel BTF") { try RunningKernelBTF.target(indexing: names) }
    }

    /// Creates the maps `programs` use (every map when `options.programs` is nil), with the
    /// globals set and the sizes asked for.
    private static func createMaps(_ spec: ObjectSpec, for programs: [ProgramSpec], options: LoadOptions,
                                   btfFD: Int32?, warnings: inout [String]) throws -> [LoadedMap] {
        var mapSpecs = try withContext("set globals") { try GlobalConstants.apply(options.constants, to: spec.maps) }
        if options.programs != nil {
            let used = Set(programs.flatMap { $0.relocations.compactMap(\.target.mapName) })
            mapSpecs.removeAll { !used.contains($0.name) }
        }
        for index in mapSpecs.indices {
            if let entries = options.maxEntries[mapSpecs[index].name] { mapSpecs[index].maxEntries = entries }
        }
        let possibleCPUs = try CPUList.possible()
        var maps: [LoadedMap] = []
        for mapSpec in mapSpecs {
            maps.append(try MapCreation.create(mapSpec, btfFD: btfFD, possibleCPUs: possibleCPUs,
                                               syscalls: options.syscalls, warnings: &warnings))
        }
        return maps
    }

    /// Rewrites the CO-RE relocated instructions of `program` for the target kernel (pure, in
    /// ELFReader); the program as it is if it has none.
    private static func relocateCORE(_ program: ProgramSpec, in spec: ObjectSpec,
                                     target: CORETarget?) throws -> ProgramSpec {
        guard let target, !program.coreRelocations.isEmpty else { return program }
        var object = spec
        object.programs = [program]
        let relocated = try withContext("CO-RE") { try CORERelocator.relocate(object, target: target).object.programs }
        guard let only = relocated.first, relocated.count == 1 else {
            throw ContextError("CO-RE", ProgramSpecError(reason: "relocating program \(program.name) gave \(relocated.count) programs"))
        }
        return only
    }

    /// Every name the load will look up in the kernel's BTF: the root types of the CO-RE
    /// relocations, and the tracing programs' attach points (`btf_trace_<tracepoint>`).
    private static func kernelNames(_ programs: [ProgramSpec], in spec: ObjectSpec) -> Set<KernelBTF.CandidateKey> {
        var keys = spec.btf.map { CORERelocator.candidateKeys(for: programs, objectBTF: $0) } ?? []
        for program in programs {
            if case .tracing(let attach, let target) = program.kind {
                let (name, kind) = attach.attachType(target: target)
                keys.insert(KernelBTF.CandidateKey(kindNumber: kind, name: name))
            }
        }
        return keys
    }

    private static func programsToLoad(_ spec: ObjectSpec, _ names: Set<String>?) throws -> [ProgramSpec] {
        guard let names else { return spec.programs }
        let missing = names.subtracting(spec.programs.map(\.name))
        guard missing.isEmpty else {
            throw ContextError("choose programs", ProgramSpecError(
                reason: "no program \(missing.sorted().joined(separator: ", ")) "
                    + "(the object has: \(spec.programs.map(\.name).joined(separator: ", ")))"))
        }
        return spec.programs.filter { names.contains($0.name) }
    }

    public func map(named name: String) -> LoadedMap? { maps.first { $0.name == name } }
    public func program(named name: String) -> LoadedProgram? { programs.first { $0.name == name } }

    /// Attaches the named program to the tracepoint its section names.
    public func attach(program name: String, method: AttachMethod = .automatic,
                       tracefs: Tracefs? = nil) throws -> TracepointAttachment {
        guard let program = program(named: name) else {
            throw ContextError("attach program `\(name)`", ProgramSpecError(
                reason: "no such program (the object has: \(programs.map(\.name).joined(separator: ", ")))"))
        }
        return try program.attach(method: method, tracefs: tracefs)
    }

    /// Closes the maps, programs and BTF now (the kernel frees each once nothing else holds it).
    public consuming func close() {
        // Consuming `self` runs `deinit`, which does the work.
    }

    deinit {
        for program in programs { program.close() }
        for map in maps { map.close() }
        // `btf` closes as the stored property is destroyed.
    }
}
