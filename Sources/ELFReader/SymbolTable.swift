/// `.symtab`: names for functions (programs), maps and global variables.
///
/// Each 24-byte entry is `st_name u32, st_info u8, st_other u8, st_shndx u16,
/// st_value u64, st_size u64`; names live in the string table `sh_link` names.
enum SymbolTable {
    /// Every symbol except the null entry 0. Throws if there is no symbol table:
    /// without it there is no way to find programs or maps.
    static func read(_ elf: ELFFile) throws(ObjectReadError) -> [Symbol] {
        let tables = elf.sections.filter { $0.type == ELF.sectionSymbolTable }
        guard let table = tables.first else {
            throw ObjectReadError(section: nil, offset: 0,
                                  reason: "no symbol table (SHT_SYMTAB): cannot find programs or maps; was the object stripped?")
        }
        guard tables.count == 1 else {
            throw ObjectReadError(section: table.displayName, offset: 0, reason: "\(tables.count) symbol tables; expected one")
        }
        guard table.entrySize == UInt64(ELF.symbolSize) || table.entrySize == 0 else {
            throw ObjectReadError(section: table.displayName, offset: 0,
                                  reason: "symbol entry size is \(table.entrySize), expected \(ELF.symbolSize)")
        }
        guard let nameSection = elf.section(at: Int(table.link)), nameSection.type == ELF.sectionStringTable else {
            throw ObjectReadError(section: table.displayName, offset: 0,
                                  reason: "sh_link \(table.link) does not name a string table for symbol names")
        }
        let names = StringTable(bytes: try elf.contents(of: nameSection), context: nameSection.displayName)
        var reader = ByteReader(try elf.contents(of: table), context: table.displayName)
        guard reader.bytes.count % ELF.symbolSize == 0 else {
            throw reader.error("size \(reader.bytes.count) is not a multiple of the \(ELF.symbolSize)-byte symbol entry", at: 0)
        }

        var symbols: [Symbol] = []
        let count = reader.bytes.count / ELF.symbolSize
        symbols.reserveCapacity(max(0, count - 1))
        for index in 0..<count {
            let entryStart = reader.position
            let nameOffset = try reader.readU32()
            let info = try reader.readU8()
            _ = try reader.readU8()  // st_other: visibility, irrelevant here
            let sectionIndex = try reader.readU16()
            let value = try reader.readU64()
            let size = try reader.readU64()
            guard index > 0 else { continue }
            let name: String
            do { name = try names.string(at: UInt64(nameOffset)) } catch {
                throw reader.error("symbol \(index): name: \(error.reason)", at: entryStart)
            }
            symbols.append(Symbol(index: index, name: name, value: value, size: size,
                                  type: info & 0x0f, binding: info >> 4, sectionIndex: sectionIndex))
        }
        return symbols
    }
}

extension Symbol {
    var isFunction: Bool { type == ELF.symbolFunction }
    var isSectionSymbol: Bool { type == ELF.symbolSection }
    var isGlobal: Bool { binding == ELF.bindingGlobal || binding == ELF.bindingWeak }
}
