import ELFReader

/// Names shared by the text and JSON views of `inspect`.
enum InspectDescriptions {
    /// Known `BPF_F_*` map flags, for `0x80 (RDONLY_PROG)`.
    static let mapFlagNames: [(UInt32, String)] = [
        (0x1, "NO_PREALLOC"), (0x2, "NO_COMMON_LRU"), (0x4, "NUMA_NODE"), (0x8, "RDONLY"),
        (0x10, "WRONLY"), (0x20, "STACK_BUILD_ID"), (0x40, "ZERO_SEED"), (0x80, "RDONLY_PROG"),
        (0x100, "WRONLY_PROG"), (0x200, "CLONE"), (0x400, "MMAPABLE"), (0x800, "PRESERVE_ELEMS"),
        (0x1000, "INNER_MAP"), (0x2000, "LINK"), (0x4000, "PATH_FD"),
    ]

    static func flagNames(_ flags: UInt32) -> [String] {
        mapFlagNames.filter { flags & $0.0 != 0 }.map(\.1)
    }

    static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

    static func flagsText(_ flags: UInt32) -> String {
        let names = flagNames(flags)
        return names.isEmpty ? hex(flags) : "\(hex(flags)) (\(names.joined(separator: "|")))"
    }

    static func programTypeName(_ kind: ProgramKind) -> String? {
        switch kind {
        case .tracepoint: return "BPF_PROG_TYPE_TRACEPOINT"
        case .tracing: return "BPF_PROG_TYPE_TRACING"
        case .unknown: return nil
        }
    }

    static func relocationKind(_ target: RelocationTarget) -> String {
        switch target {
        case .map: return "map"
        case .mapValue: return "map_value"
        case .call: return "call"
        }
    }

    /// `events`, `.rodata+0 (tracepoint_has_err)`, `record_call @ 15`.
    static func relocationTarget(_ target: RelocationTarget, object: ObjectSpec) -> String {
        switch target {
        case .map(let name):
            return name
        case .mapValue(let mapName, let offset):
            let variable = object.map(named: mapName)?.variables.first { $0.offset == offset }?.name
            return "\(mapName)+\(offset)" + (variable.map { " (\($0))" } ?? "")
        case .call(let function, let index):
            return "\(function) at instruction \(index)"
        }
    }

    /// Subprograms of a program: (name, first slot), from its linked calls.
    static func subprograms(of program: ProgramSpec) -> [(name: String, start: Int)] {
        var seen: [(name: String, start: Int)] = []
        for relocation in program.relocations {
            if case .call(let name, let start) = relocation.target, !seen.contains(where: { $0.start == start }) {
                seen.append((name, start))
            }
        }
        return seen.sorted { $0.start < $1.start }
    }

    /// Type counts by kind, in BTF_KIND order.
    static func kindCounts(_ btf: BTFSpec) -> [(kind: String, count: Int)] {
        var counts: [Int: (String, Int)] = [:]
        for type in btf.types {
            let entry = counts[type.kind.number] ?? (type.kind.name, 0)
            counts[type.kind.number] = (entry.0, entry.1 + 1)
        }
        return counts.keys.sorted().compactMap { key in counts[key].map { ($0.0, $0.1) } }
    }
}
