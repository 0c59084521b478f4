/// Global variables become maps: each of `.rodata*`, `.data*` and `.bss*` is
/// loaded as a one-entry array whose single value is the whole section, and
/// programs reach a variable with an `ld_imm64` of (map, offset).
enum DataSectionMaps {
    /// `BPF_F_RDONLY_PROG`: programs may only read `.rodata`, so the verifier
    /// can treat its (frozen) contents as constants.
    static let readOnlyProgramFlag: UInt32 = 0x80
    /// A sanity bound for `.bss`, which has a size but no bytes in the file:
    /// without it a corrupt header could make us allocate gigabytes of zeros.
    static let maximumSize: UInt64 = 64 << 20

    static func isDataSection(_ name: String) -> Bool {
        for prefix in [".rodata", ".data", ".bss"] where name == prefix || name.hasPrefix(prefix + ".") {
            return true
        }
        return false
    }

    static func isReadOnly(_ name: String) -> Bool { name == ".rodata" || name.hasPrefix(".rodata.") }

    static func read(elf: ELFFile, symbols: [Symbol], btf: BTFSpec?) throws(ObjectReadError) -> [MapSpec] {
        var maps: [MapSpec] = []
        for section in elf.sections where isDataSection(section.name) && section.flags & ELF.flagAlloc != 0 {
            guard section.type == ELF.sectionProgBits || section.type == ELF.sectionNoBits else { continue }
            guard section.size > 0 else { continue }  // the kernel refuses a value size of 0
            guard section.size <= maximumSize, let valueSize = UInt32(exactly: section.size) else {
                throw ObjectReadError(section: section.displayName, offset: 0,
                                      reason: "size \(section.size) exceeds the \(maximumSize)-byte limit for a data section")
            }
            let initialValue = section.type == ELF.sectionNoBits
                ? [UInt8](repeating: 0, count: Int(valueSize))
                : try elf.contents(of: section)
            var variables: [VariableSpec] = []
            for symbol in symbols where Int(symbol.sectionIndex) == section.index && symbol.type == ELF.symbolObject {
                // Widened: value + size cannot overflow once both fit 32 bits.
                guard let offset = UInt32(exactly: symbol.value), let size = UInt32(exactly: symbol.size),
                      UInt64(offset) + UInt64(size) <= section.size else {
                    throw ObjectReadError(section: section.displayName, offset: symbol.value,
                                          reason: "variable \(symbol.name) (\(symbol.size) bytes at \(symbol.value)) lies outside the section (\(section.size) bytes)")
                }
                variables.append(VariableSpec(name: symbol.name, offset: offset, size: size))
            }
            variables.sort { $0.offset < $1.offset }
            let dataSectionTypeID = btf?.types.first {
                if case .dataSection = $0.kind { return $0.name == section.name }
                return false
            }?.id ?? 0
            maps.append(MapSpec(name: section.name, type: .array, keySize: 4, valueSize: valueSize, maxEntries: 1,
                                flags: isReadOnly(section.name) ? readOnlyProgramFlag : 0, source: .dataSection,
                                initialValue: initialValue, variables: variables, btfValueTypeID: dataSectionTypeID))
        }
        return maps
    }
}
