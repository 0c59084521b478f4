/// The ELF container: the header checks and the section header table.
///
/// A BPF object is a relocatable ELF64 little-endian file for machine EM_BPF.
/// Everything interesting lives in sections; there are no program headers.
struct ELFFile {
    let bytes: [UInt8]
    /// Every section header, index 0 (the null section) included, names resolved.
    let sections: [SectionHeader]
    /// The first non-null section of each name: a file may hold thousands.
    private let sectionIndexByName: [String: Int]

    init(_ bytes: [UInt8]) throws(ObjectReadError) {
        self.bytes = bytes
        let header = try ELFHeader(bytes)
        let (unnamed, nameOffsets) = try Self.readSectionHeaders(bytes, header: header)
        sections = try Self.resolveNames(unnamed, nameOffsets: nameOffsets, bytes: bytes, header: header)
        var byName: [String: Int] = [:]
        for section in sections where section.type != ELF.sectionNull && byName[section.name] == nil {
            byName[section.name] = section.index
        }
        sectionIndexByName = byName
    }

    /// The bytes of a section; empty for `SHT_NOBITS` (`.bss` occupies no file space).
    func contents(of section: SectionHeader) throws(ObjectReadError) -> [UInt8] {
        try Self.contents(of: section, in: bytes)
    }

    private static func contents(of section: SectionHeader, in bytes: [UInt8]) throws(ObjectReadError) -> [UInt8] {
        if section.type == ELF.sectionNoBits || section.type == ELF.sectionNull { return [] }
        guard let start = Int(exactly: section.offset), start <= bytes.count,
              let count = Int(exactly: section.size), count <= bytes.count - start else {
            throw ObjectReadError(
                section: section.displayName, offset: 0,
                reason: "section data (file offset \(section.offset), \(section.size) bytes) lies outside the file (\(bytes.count) bytes)")
        }
        return Array(bytes[start..<start + count])
    }

    func section(named name: String) -> SectionHeader? {
        sectionIndexByName[name].map { sections[$0] }
    }

    /// The section at `index`, or nil for 0, reserved and out-of-range indexes.
    func section(at index: Int) -> SectionHeader? {
        guard index > 0, index < sections.count else { return nil }
        return sections[index]
    }

    /// The headers (names still empty) and each one's offset into the name table.
    private static func readSectionHeaders(_ bytes: [UInt8], header: ELFHeader) throws(ObjectReadError)
        -> ([SectionHeader], [UInt32]) {
        guard header.sectionHeaderOffset != 0 else {
            throw ObjectReadError(section: "ELF header", offset: 40, reason: "no section header table (e_shoff is 0)")
        }
        guard header.sectionHeaderEntrySize == UInt16(ELF.sectionHeaderSize) else {
            throw ObjectReadError(section: "ELF header", offset: 58,
                                  reason: "section header size is \(header.sectionHeaderEntrySize), expected \(ELF.sectionHeaderSize)")
        }
        guard let tableStart = Int(exactly: header.sectionHeaderOffset), tableStart <= bytes.count else {
            throw ObjectReadError(section: "ELF header", offset: 40,
                                  reason: "section header table offset \(header.sectionHeaderOffset) is past the end of the file (\(bytes.count) bytes)")
        }
        var table = ByteReader(Array(bytes[tableStart...]), context: "section headers", origin: UInt64(tableStart))

        // Section 0 is always null, but with more than 0xff00 sections it carries
        // the real count (sh_size) and the name table index (sh_link).
        let (first, firstName) = try readSectionHeader(&table, index: 0)
        var count = Int(header.sectionCount)
        if count == 0 {
            guard let extended = Int(exactly: first.size) else {
                throw table.error("extended section count \(first.size) is too large", at: 32)
            }
            count = extended
        }
        guard count >= 1, count - 1 <= table.remaining / ELF.sectionHeaderSize else {
            throw table.error("section header table with \(count) entries does not fit in the file", at: 0)
        }
        var sections = [first]
        var nameOffsets = [firstName]
        sections.reserveCapacity(count)
        for index in 1..<count {
            let (section, nameOffset) = try readSectionHeader(&table, index: index)
            sections.append(section)
            nameOffsets.append(nameOffset)
        }
        return (sections, nameOffsets)
    }

    private static func readSectionHeader(_ table: inout ByteReader, index: Int) throws(ObjectReadError)
        -> (SectionHeader, nameOffset: UInt32) {
        let nameOffset = try table.readU32()
        let type = try table.readU32()
        let flags = try table.readU64()
        _ = try table.readU64()  // sh_addr: always 0 in a relocatable object
        let offset = try table.readU64()
        let size = try table.readU64()
        let link = try table.readU32()
        let info = try table.readU32()
        let alignment = try table.readU64()
        let entrySize = try table.readU64()
        let section = SectionHeader(index: index, name: "", type: type, flags: flags, offset: offset,
                                    size: size, link: link, info: info, alignment: alignment, entrySize: entrySize)
        return (section, nameOffset)
    }

    /// Names live in a string table section (`.strtab` for clang) named by e_shstrndx.
    private static func resolveNames(_ unnamed: [SectionHeader], nameOffsets: [UInt32], bytes: [UInt8],
                                     header: ELFHeader) throws(ObjectReadError) -> [SectionHeader] {
        var sections = unnamed
        var nameIndex = Int(header.sectionNameTableIndex)
        if header.sectionNameTableIndex == ELF.sectionIndexExtended {
            nameIndex = Int(sections[0].link)
        }
        guard nameIndex > 0, nameIndex < sections.count else {
            throw ObjectReadError(section: "ELF header", offset: 62,
                                  reason: "section name table index \(nameIndex) is not a section (there are \(sections.count))")
        }
        let nameSection = sections[nameIndex]
        guard nameSection.type == ELF.sectionStringTable else {
            throw ObjectReadError(section: "section headers", offset: header.sectionHeaderOffset + UInt64(nameIndex * ELF.sectionHeaderSize),
                                  reason: "section name table (section \(nameIndex)) is not a string table (type \(nameSection.type))")
        }
        let names = StringTable(bytes: try contents(of: nameSection, in: bytes), context: "section names")
        for index in sections.indices.dropFirst() {
            sections[index].name = try names.string(at: UInt64(nameOffsets[index]))
        }
        return sections
    }
}

/// The fixed 64-byte ELF64 header, checked for what a BPF object must be.
struct ELFHeader {
    let sectionHeaderOffset: UInt64
    let sectionHeaderEntrySize: UInt16
    let sectionCount: UInt16
    let sectionNameTableIndex: UInt16

    init(_ bytes: [UInt8]) throws(ObjectReadError) {
        func fail(_ offset: UInt64, _ reason: String) -> ObjectReadError {
            ObjectReadError(section: "ELF header", offset: offset, reason: reason)
        }
        // Identification first, each with its own message: these are the
        // mistakes people make (wrong file, wrong target triple).
        guard bytes.count >= 4, Array(bytes[0..<4]) == ELF.magic else {
            throw fail(0, "not an ELF file (no \\x7fELF magic)")
        }
        guard bytes.count >= 6 else { throw fail(UInt64(bytes.count), "truncated: the ELF identification needs 16 bytes") }
        switch bytes[4] {
        case ELF.classELF64: break
        case ELF.classELF32: throw fail(4, "32-bit ELF: BPF objects are ELF64")
        default: throw fail(4, "unknown ELF class \(bytes[4])")
        }
        switch bytes[5] {
        case ELF.dataLittleEndian: break
        case ELF.dataBigEndian:
            throw fail(5, "big-endian ELF: this reader loads little-endian BPF objects (compile with -target bpfel, or -target bpf on a little-endian host)")
        default: throw fail(5, "unknown ELF data encoding \(bytes[5])")
        }
        guard bytes.count >= ELF.headerSize else {
            throw fail(UInt64(bytes.count), "truncated: the ELF64 header needs \(ELF.headerSize) bytes, the file has \(bytes.count)")
        }
        var reader = ByteReader(Array(bytes[0..<ELF.headerSize]), context: "ELF header")
        try reader.seek(to: 16)
        let type = try reader.readU16()
        let machine = try reader.readU16()
        guard machine == ELF.machineBPF else {
            throw fail(18, "machine is \(ELF.machineName(machine)), not EM_BPF (247)")
        }
        guard type == ELF.typeRelocatable else {
            throw fail(16, "ELF type is \(type), expected a relocatable object (ET_REL, 1) as `clang -c` produces")
        }
        try reader.seek(to: 40)
        sectionHeaderOffset = try reader.readU64()
        try reader.seek(to: 58)
        sectionHeaderEntrySize = try reader.readU16()
        sectionCount = try reader.readU16()
        sectionNameTableIndex = try reader.readU16()
    }
}

extension SectionHeader {
    var isExecutable: Bool { flags & ELF.flagExecInstr != 0 }
    /// The name for messages: empty names become `section N`.
    var displayName: String { name.isEmpty ? "section \(index)" : name }
}
