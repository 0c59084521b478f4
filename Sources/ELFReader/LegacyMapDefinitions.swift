/// Maps defined the old way, in the `maps` section, as initialised structs:
///
///     struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; };
///     struct bpf_map_def SEC("maps") counts = { BPF_MAP_TYPE_HASH, 4, 8, 128, 0 };
///
/// One symbol per map gives its name and its offset in the section.
/// (libbpf 1.x refuses these; cilium/ebpf and aya still read them.)
enum LegacyMapDefinitions {
    static let sectionName = "maps"
    /// The five u32 fields every definition has; longer definitions carry
    /// fields (inner map index, NUMA node) that this project does not use.
    static let definitionSize = 20

    static func read(section: SectionHeader, contents: [UInt8], symbols: [Symbol]) throws(ObjectReadError) -> [MapSpec] {
        let mapSymbols = symbols
            .filter { Int($0.sectionIndex) == section.index && !$0.isSectionSymbol && $0.type != ELF.symbolFile }
            .sorted { $0.value < $1.value }
        var reader = ByteReader(contents, context: section.displayName)
        var maps: [MapSpec] = []
        for symbol in mapSymbols {
            guard symbol.size == 0 || symbol.size >= UInt64(definitionSize) else {
                throw reader.error("map \(symbol.name): definition is \(symbol.size) bytes, expected at least \(definitionSize)",
                                   at: Int(exactly: symbol.value) ?? 0)
            }
            try reader.seek(to: symbol.value)
            let type = try reader.readU32()
            let keySize = try reader.readU32()
            let valueSize = try reader.readU32()
            let maxEntries = try reader.readU32()
            let flags = try reader.readU32()
            maps.append(MapSpec(name: symbol.name, type: MapType(rawValue: type), keySize: keySize,
                                valueSize: valueSize, maxEntries: maxEntries, flags: flags, source: .legacy))
        }
        return maps
    }
}
