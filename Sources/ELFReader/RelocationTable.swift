/// Raw `SHT_REL` entries: `r_offset u64` (byte offset in the target section),
/// `r_info u64` (symbol index in the high 32 bits, type in the low 32 bits).
/// BPF objects use REL, never RELA: the addend is the instruction's own `imm`.
struct RawRelocation: Equatable {
    let offset: UInt64
    let symbolIndex: Int
    let type: UInt32
}

enum RelocationTable {
    /// Every REL section's entries, keyed by the index of the section they patch.
    static func read(_ elf: ELFFile) throws(ObjectReadError) -> [Int: [RawRelocation]] {
        var result: [Int: [RawRelocation]] = [:]
        for section in elf.sections where section.type == ELF.sectionRel || section.type == ELF.sectionRela {
            guard let target = elf.section(at: Int(section.info)) else {
                throw ObjectReadError(section: section.displayName, offset: 0,
                                      reason: "sh_info \(section.info) does not name a section to relocate")
            }
            guard section.type == ELF.sectionRel else {
                // Only program sections matter; RELA there is something clang never emits.
                if target.isExecutable {
                    throw ObjectReadError(section: section.displayName, offset: 0,
                                          reason: "RELA relocations for a program section are not supported (BPF uses REL)")
                }
                continue
            }
            // Only relocations of program sections matter to a loader; debug
            // sections (`.rel.debug_*`, `.rel.BTF*`) are for tools.
            guard target.isExecutable else { continue }
            let entries = try Self.entries(of: section, in: elf)
            result[target.index, default: []].append(contentsOf: entries)
        }
        return result
    }

    /// The entries of one REL section, in file order.
    static func entries(of section: SectionHeader, in elf: ELFFile) throws(ObjectReadError) -> [RawRelocation] {
        var reader = ByteReader(try elf.contents(of: section), context: section.displayName)
        guard reader.bytes.count % ELF.relocationSize == 0 else {
            throw reader.error("size \(reader.bytes.count) is not a multiple of the \(ELF.relocationSize)-byte entry", at: 0)
        }
        var entries: [RawRelocation] = []
        while !reader.isAtEnd {
            let offset = try reader.readU64()
            let info = try reader.readU64()
            entries.append(RawRelocation(offset: offset, symbolIndex: Int(info >> 32),
                                         type: UInt32(truncatingIfNeeded: info)))
        }
        return entries
    }
}
