import BPFSyscall
import ELFReader

/// What the exporter needs of its BPF object, named once and checked before anything is
/// loaded (the idea of cilium's bpf2go/`LoadAndAssign`): for the chosen transport its program
/// and output map (`tcp_retransmit_skb` writing to the `events` perf event array, or
/// `tcp_retransmit_skb_rb` writing to the `ring` ring buffer), the `stats` counters, the
/// constants the loader sets, and the layout of `struct retrans_event`, whose BTF the object
/// carries (bpf/retrans_event.h). A missing piece or a layout that disagrees with the decoder
/// is one clear error at start.
struct RetransObjectBinding {
    /// Which of the object's programs: by transport, and by what it attaches to.
    struct Choice: Sendable, Equatable, CustomStringConvertible {
        var transport: RingTransport
        var attachment: ProgramAttachmentKind

        var description: String { "\(attachment.rawValue), \(transport.rawValue)" }
    }

    static func programName(_ choice: Choice) -> String {
        let base = choice.attachment == .tracepoint ? "tcp_retransmit_skb" : "tcp_retransmit_btf"
        return choice.transport == .perf ? base : base + "_rb"
    }
    /// The SYN-ACK program beside it (tp_btf only: the tracepoint/ record has no cgroup,
    /// namespace or kind to give, and counting SYN-ACKs there would change the fallback's
    /// meaning without the rest).
    static func synAckProgramName(_ choice: Choice) -> String? {
        guard choice.attachment == .btf else { return nil }
        return choice.transport == .perf ? "tcp_retransmit_synack_btf" : "tcp_retransmit_synack_btf_rb"
    }
    /// Every program `choice` needs.
    static func programNames(_ choice: Choice) -> [String] {
        [programName(choice)] + (synAckProgramName(choice).map { [$0] } ?? [])
    }
    /// The task iterator behind the per-namespace counters (bpf/retrans.c): loaded with tp_btf
    /// where the object has it, and not required (an object without it serves no per-namespace
    /// families).
    static let namespaceTasksProgram = "netns_tasks"
    static func programsToLoad(_ choice: Choice, in spec: ObjectSpec) -> [String] {
        let iterator = choice.attachment == .btf && spec.program(named: namespaceTasksProgram) != nil
        return programNames(choice) + (iterator ? [namespaceTasksProgram] : [])
    }
    static func outputMap(_ transport: RingTransport) -> String { transport == .perf ? "events" : "ring" }
    static let statsMap = "stats"
    static let hasErrConstant = "tracepoint_has_err"
    /// Bytes waiting in the ring buffer before the program wakes the reader.
    static let ringWakeupConstant = "ring_wakeup_bytes"
    /// Whether the program stamps each event with the boot clock. Optional: an object
    /// without it always stamps (objects built before it existed).
    static let timestampsConstant = "event_timestamps"
    static let eventStruct = "retrans_event"
    /// Indexes of the `stats` map (enum retrans_stat).
    static let emittedIndex: UInt32 = 0
    static let emitFailedIndex: UInt32 = 1

    /// The tracepoint whose format says whether `err` exists. The program itself attaches to
    /// the tracepoint its section names: `make bench` loads a stand-in object whose program of
    /// this name sits on syscalls/sys_enter_getppid.
    static let formatTracepoint = (category: "tcp", name: "tcp_retransmit_skb")

    /// Whether the object carries what `choice` needs (for the `auto` flags).
    static func supports(_ choice: Choice, in spec: ObjectSpec) -> Bool {
        programNames(choice).allSatisfy { spec.program(named: $0) != nil }
            && spec.map(named: outputMap(choice.transport)) != nil
    }

    /// Checks `spec` against everything above; `origin` names the object in the message.
    static func validate(_ spec: ObjectSpec, choice: Choice, origin: String) throws(BindingError) {
        var problems: [String] = []
        let transport = choice.transport
        for program in programNames(choice) where spec.program(named: program) == nil {
            problems.append("no program `\(program)` (it has: \(spec.programs.map(\.name).joined(separator: ", ")))")
        }
        let output = outputMap(transport)
        switch transport {
        case .perf:
            problems += mapProblems(spec.map(named: output), name: output, type: .perfEventArray,
                                    keySize: 4, valueSize: 4, minimumEntries: 0)
        case .ringBuffer:
            problems += mapProblems(spec.map(named: output), name: output, type: .ringBuffer,
                                    keySize: 0, valueSize: 0, minimumEntries: 0)
            problems += constantProblems(spec, name: ringWakeupConstant, declaration: "__u64", size: 8)
        }
        problems += mapProblems(spec.map(named: statsMap), name: statsMap, type: .perCPUArray,
                                keySize: 4, valueSize: 8, minimumEntries: emitFailedIndex + 1)
        problems += constantProblems(spec, name: hasErrConstant, declaration: "__u32", size: 4)
        problems += constantProblems(spec, name: timestampsConstant, declaration: "__u32", size: 4, required: false)
        problems += layoutProblems(spec.btf)
        guard problems.isEmpty else { throw BindingError(origin: origin, problems: problems) }
    }

    static func declaresConstant(_ spec: ObjectSpec, named name: String) -> Bool {
        spec.maps.contains { map in map.variables.contains { $0.name == name } }
    }

    /// `required: false`: an object without the constant fits; one with it must declare it right.
    private static func constantProblems(_ spec: ObjectSpec, name: String, declaration: String, size: UInt32,
                                         required: Bool = true) -> [String] {
        let constant = spec.maps.lazy.compactMap { map in
            map.variables.first { $0.name == name }.map { (map, $0) }
        }.first
        guard let (map, variable) = constant else {
            return required ? ["no global `const volatile \(declaration) \(name)`"] : []
        }
        if variable.size != size || map.name != ".rodata" {
            return ["`\(name)` must be a \(size)-byte const in .rodata, is \(variable.size) bytes in \(map.name)"]
        }
        return []
    }

    /// The members of `struct retrans_event` in the object's BTF, against `RetransEvent.Layout`.
    static func layoutProblems(_ btf: BTFSpec?) -> [String] {
        guard let btf else { return ["no BTF (build it with clang -g)"] }
        guard let type = btf.types.first(where: { $0.name == eventStruct }),
              case .structure(let size, let members) = type.kind else {
            return ["no BTF for struct \(eventStruct) (bpf/retrans_event.h: the object must declare "
                + "`retrans_event_layout`)"]
        }
        var problems: [String] = []
        if Int(size) != RetransEvent.Layout.size {
            problems.append("struct \(eventStruct) is \(size) bytes, the decoder reads \(RetransEvent.Layout.size)")
        }
        for (name, offset) in RetransEvent.Layout.fields {
            guard let member = members.first(where: { $0.name == name }) else {
                problems.append("struct \(eventStruct) has no member `\(name)`")
                continue
            }
            if member.bitOffset != UInt32(offset * 8) {
                problems.append("struct \(eventStruct).\(name) is at byte \(member.bitOffset / 8), the decoder reads byte \(offset)")
            }
        }
        return problems
    }

    private static func mapProblems(_ map: MapSpec?, name: String, type: MapType, keySize: UInt32,
                                    valueSize: UInt32, minimumEntries: UInt32) -> [String] {
        guard let map else { return ["no map `\(name)`"] }
        var problems: [String] = []
        if map.type != type { problems.append("map `\(name)` is \(map.type), expected \(type)") }
        if map.keySize != keySize || map.valueSize != valueSize {
            problems.append("map `\(name)` has \(map.keySize)-byte keys and \(map.valueSize)-byte values, "
                + "expected \(keySize) and \(valueSize)")
        }
        if map.maxEntries < minimumEntries {
            problems.append("map `\(name)` has \(map.maxEntries) entries, expected at least \(minimumEntries)")
        }
        return problems
    }

    // MARK: the live object

    let choice: Choice
    var transport: RingTransport { choice.transport }
    let program: LoadedProgram
    /// tp_btf's SYN-ACK program, writing to the same output.
    let synAckProgram: LoadedProgram?
    /// The task iterator for the per-namespace counters, where loaded.
    let namespaceTasksProgram: LoadedProgram?
    /// Every loaded program, the main one first.
    var programs: [LoadedProgram] { [program] + (synAckProgram.map { [$0] } ?? []) }
    /// `events` or `ring`.
    let output: LoadedMap
    let stats: LoadedMap

    /// The loaded pieces of an object that passed `validate`.
    init(_ object: borrowing LoadedObject, choice: Choice, origin: String) throws(BindingError) {
        let (programName, outputName) = (Self.programName(choice), Self.outputMap(choice.transport))
        guard let program = object.program(named: programName), let output = object.map(named: outputName),
              let stats = object.map(named: Self.statsMap) else {
            // The loader creates only the maps the loaded program uses.
            throw BindingError(origin: origin, problems: [
                "program `\(programName)` must use maps `\(outputName)` and `\(Self.statsMap)` "
                    + "(loaded: \(object.maps.map(\.name).joined(separator: ", ")))"])
        }
        var synAckProgram: LoadedProgram?
        if let synAckName = Self.synAckProgramName(choice) {
            guard let loaded = object.program(named: synAckName) else {
                throw BindingError(origin: origin, problems: ["program `\(synAckName)` was not loaded"])
            }
            synAckProgram = loaded
        }
        self.choice = choice
        self.program = program
        self.synAckProgram = synAckProgram
        self.namespaceTasksProgram = object.program(named: Self.namespaceTasksProgram)
        self.output = output
        self.stats = stats
    }
}

/// What the program attaches to.
enum ProgramAttachmentKind: String, Sendable, Equatable {
    /// `tracepoint/tcp/tcp_retransmit_skb`: reads the record the kernel fills for the tracepoint.
    case tracepoint
    /// `tp_btf/tcp_retransmit_skb`: the kernel's typed arguments, read with CO-RE (needs kernel BTF).
    case btf = "tp_btf"
}

/// The object is not shaped like retrans.o.
struct BindingError: Error, Sendable, Equatable, CustomStringConvertible {
    var origin: String
    var problems: [String]

    var description: String {
        "BPF object \(origin) does not fit this exporter: " + problems.joined(separator: "; ")
            + " (build it from bpf/retrans.c)"
    }
}
