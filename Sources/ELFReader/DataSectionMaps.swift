/// Global variables become maps: each of `.rodata*`, `.data*` and `.bss*` is
/// loaded as a one-entry array whose single value is the whole section, and
/// programs reach a variable with an `ld_imm64` of (map, offset).
enum DataSectionMaps {
    /// `BPF_F_RDONLY_PROG`: programs may only read `.rodata`, so the verifier
    /// can treat its (frozen) contents as constants.
    static let readOnlyProgramFlag: UInt32 = 0x80
    /// A sanity bound on all data sections together: `.bss` has a size but no
    /// bytes in the file, so without it a corrupt header (or a thousand
    /// `.bss.*` headers) could make us allocate gigabytes of zeros.
    static let maximumTotalSize: UInt64 = 64 << 20

    static func isDataSection(_ name: String) -> Bool {
        for prefix in [".rodata", ".data", ".bss"] where name == prefix || name.hasPrefix(prefix + ".") {
            return true
        }
        return false
    }

    static func isReadOnly(_ name: String) -> Bool { name == ".rodata" || name.hasPrefix(".rodata.") }

    static func read(elf: ELFFile, symbols: [Symbol], btf: BTFSpec?) throws(ObjectReadError) -> [MapSpec] {
        var maps: [MapSpec] = []
        var totalSize: UInt64 = 0
        // Indexed once, not searched per section: a file may hold thousands of each.
        var objectsBySection: [Int: [Symbol]] = [:]
        for symbol in symbols where symbol.type == ELF.symbolObject {
            objectsBySection[Int(symbol.sectionIndex), default: []].append(symbol)
        }
        var dataSectionTypeIDs: [String: UInt32] = [:]
        for type in btf?.types ?? [] {
            if case .dataSection = type.kind, dataSectionTypeIDs[type.name] == nil { dataSectionTypeIDs[type.name] = type.id }
        }
        for section in elf.sections where isDataSection(section.name) && section.flags & ELF.flagAlloc != 0 {
            guard section.type == ELF.sectionProgBits || section.type == ELF.sectionNoBits else { continue }
            guard section.size > 0 else { continue }  // the kernel refuses a value size of 0
            guard section.size <= maximumTotalSize - totalSize, let valueSize = UInt32(exactly: section.size) else {
                throw ObjectReadError(section: section.displayName, offset: 0,
                                      reason: "size \(section.size) takes the data sections past their \(maximumTotalSize)-byte limit (\(totalSize) bytes before it)")
            }
            totalSize += section.size
            let initialValue = section.type == ELF.sectionNoBits
                ? [UInt8](repeating: 0, count: Int(valueSize))
                : try elf.contents(of: section)
            var variables: [VariableSpec] = []
            for symbol in objectsBySection[section.index] ?? [] {
                // Widened: value + size cannot overflow once both fit 32 bits.
                guard let offset = UInt32(exactly: symbol.value), let size = UInt32(exactly: symbol.size),
                      UInt64(offset) + UInt64(size) <= section.size else {
                    throw ObjectReadError(section: section.displayName, offset: symbol.value,
                                          reason: "variable \(symbol.name) (\(symbol.size) bytes at \(symbol.value)) lies outside the section (\(section.size) bytes)")
                }
                variables.append(VariableSpec(name: symbol.name, offset: offset, size: size))
            }
            variables.sort { $0.offset < $1.offset }
            let dataSectionTypeID = dataSectionTypeIDs[section.name] ?? 0
            maps.append(MapSpec(name: section.name, type: .array, keySize: 4, valueSize: valueSize, maxEntries: 1,
                                flags: isReadOnly(section.name) ? readOnlyProgramFlag : 0, source: .dataSection,
                                initialValue: initialValue, variables: variables, btfValueTypeID: dataSectionTypeID))
        }
        return maps
    }
}
