import BPFSyscall
import ELFReader

/// What the exporter needs of its BPF object, named once and checked before anything is
/// loaded (the idea of cilium's bpf2go/`LoadAndAssign`): the program, the `events` perf
/// event array, the `stats` counters, the `tracepoint_has_err` constant and the layout of
/// `struct retrans_event`, whose BTF the object carries (bpf/retrans_event.h). A missing
/// piece or a layout that disagrees with the decoder is one clear error at start.
struct RetransObjectBinding {
    static let programName = "tcp_retransmit_skb"
    static let eventsMap = "events"
    static let statsMap = "stats"
    static let hasErrConstant = "tracepoint_has_err"
    static let eventStruct = "retrans_event"
    /// Indexes of the `stats` map (enum retrans_stat).
    static let emittedIndex: UInt32 = 0
    static let emitFailedIndex: UInt32 = 1

    /// The tracepoint whose format says whether `err` exists. The program itself attaches to
    /// the tracepoint its section names: `make bench` loads a stand-in object whose program of
    /// this name sits on syscalls/sys_enter_getppid.
    static let formatTracepoint = (category: "tcp", name: "tcp_retransmit_skb")

    /// Checks `spec` against everything above; `origin` names the object in the message.
    static func validate(_ spec: ObjectSpec, origin: String) throws(BindingError) {
        var problems: [String] = []
        if spec.program(named: programName) == nil {
            problems.append("no program `\(programName)` (it has: \(spec.programs.map(\.name).joined(separator: ", ")))")
        }
        problems += mapProblems(spec.map(named: eventsMap), name: eventsMap, type: .perfEventArray,
                                keySize: 4, valueSize: 4, minimumEntries: 0)
        problems += mapProblems(spec.map(named: statsMap), name: statsMap, type: .perCPUArray,
                                keySize: 4, valueSize: 8, minimumEntries: emitFailedIndex + 1)
        let constant = spec.maps.lazy.compactMap { map in
            map.variables.first { $0.name == hasErrConstant }.map { (map, $0) }
        }.first
        switch constant {
        case nil:
            problems.append("no global `const volatile __u32 \(hasErrConstant)`")
        case let (map, variable)?:
            if variable.size != 4 || map.name != ".rodata" {
                problems.append("`\(hasErrConstant)` must be a 4-byte const in .rodata, is \(variable.size) bytes in \(map.name)")
            }
        }
        problems += layoutProblems(spec.btf)
        guard problems.isEmpty else { throw BindingError(origin: origin, problems: problems) }
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

    let program: LoadedProgram
    let events: LoadedMap
    let stats: LoadedMap

    /// The loaded pieces of an object that passed `validate`.
    init(_ object: borrowing LoadedObject, origin: String) throws(BindingError) {
        guard let program = object.program(named: Self.programName),
              let events = object.map(named: Self.eventsMap),
              let stats = object.map(named: Self.statsMap) else {
            throw BindingError(origin: origin, problems: ["loaded without its program or maps"])
        }
        self.program = program
        self.events = events
        self.stats = stats
    }
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
