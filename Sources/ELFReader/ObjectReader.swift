/// Reads a clang-compiled BPF object: bytes in, `ObjectSpec` out.
/// Pure: no file or kernel access, so it runs (and is tested) anywhere.
///
/// The steps, in the order a loader needs them:
/// 1. ELF header and section headers (`ELFFile`), symbols (`SymbolTable`);
/// 2. `license` and `version`;
/// 3. `.BTF` (types, with DATASEC sizes/offsets fixed for the kernel) and
///    `.BTF.ext` (func_info, line_info);
/// 4. maps: BTF-defined `.maps`, legacy `maps`, and global data sections;
/// 5. programs: entry points with their subprograms linked in, relocations classified.
public enum ObjectReader {
    public static func read(_ bytes: [UInt8]) throws(ObjectReadError) -> ObjectSpec {
        let elf = try ELFFile(bytes)
        let symbols = try SymbolTable.read(elf)

        let license = try readLicense(elf)
        let kernelVersion = try readKernelVersion(elf)

        var btf: BTFParser.Result?
        if let section = elf.section(named: BTFParser.section) {
            var parsed = try BTFParser.parse(try elf.contents(of: section))
            try BTFDataSectionFixup.apply(to: &parsed, elf: elf, symbols: symbols)
            btf = parsed
        }
        var lineAndFuncInfo: [String: BTFExtParser.SectionRecords] = [:]
        if let section = elf.section(named: BTFExtParser.section), let btf {
            let strings = StringTable(bytes: btf.spec.strings, context: BTFParser.section)
            lineAndFuncInfo = try BTFExtParser.parse(try elf.contents(of: section), strings: strings)
        }

        var maps: [MapSpec] = []
        if elf.section(named: BTFMapDefinitions.sectionName) != nil {
            guard let btf else {
                throw ObjectReadError(section: BTFMapDefinitions.sectionName, offset: 0,
                                      reason: "maps in `.maps` are described only by BTF, and the object has no `.BTF` section (compile with -g)")
            }
            let resolver = BTFTypeResolver(spec: btf.spec, recordOffsets: btf.recordOffsets)
            maps += try BTFMapDefinitions.read(btf: btf.spec, resolver: resolver)
        }
        if let section = elf.section(named: LegacyMapDefinitions.sectionName) {
            maps += try LegacyMapDefinitions.read(section: section, contents: try elf.contents(of: section), symbols: symbols)
        }
        maps += try DataSectionMaps.read(elf: elf, symbols: symbols, btf: btf?.spec)

        let relocations = try RelocationTable.read(elf)
        let linker = try ProgramLinker(elf: elf, symbols: symbols, relocations: relocations,
                                       lineAndFuncInfo: lineAndFuncInfo)
        let programs = try linker.programs()
        try checkCORERelocations(programs, btf: btf?.spec)

        return ObjectSpec(license: license, kernelVersion: kernelVersion, programs: programs, maps: maps,
                          btf: btf?.spec, sections: elf.sections, symbols: symbols)
    }

    /// Every CO-RE relocation names a type of the object's BTF.
    private static func checkCORERelocations(_ programs: [ProgramSpec], btf: BTFSpec?) throws(ObjectReadError) {
        let typeCount = btf?.types.count ?? 0
        for program in programs {
            for relocation in program.coreRelocations
            where relocation.localTypeID == 0 || Int(relocation.localTypeID) > typeCount {
                throw ObjectReadError(section: BTFExtParser.section, offset: 0,
                                      reason: "program \(program.name): instruction \(relocation.instructionIndex): CO-RE relocation names type \(relocation.localTypeID), which is not in .BTF (\(typeCount) types)")
            }
        }
    }

    /// `license`: a C string; the kernel checks it for GPL-only helpers.
    private static func readLicense(_ elf: ELFFile) throws(ObjectReadError) -> String {
        guard let section = elf.section(named: "license") else { return "" }
        let bytes = try elf.contents(of: section)
        let text = bytes.prefix { $0 != 0 }
        return String(decoding: text, as: UTF8.self)
    }

    /// `version`: one u32, LINUX_VERSION_CODE, that only old kprobe loaders used.
    private static func readKernelVersion(_ elf: ELFFile) throws(ObjectReadError) -> UInt32? {
        guard let section = elf.section(named: "version") else { return nil }
        var reader = ByteReader(try elf.contents(of: section), context: section.displayName)
        guard reader.bytes.count == 4 else {
            throw reader.error("size \(reader.bytes.count), expected 4 (one u32)", at: 0)
        }
        return try reader.readU32()
    }
}

/// A malformed or unsupported object. The message names the section and byte offset.
///
/// `offset` counts bytes from the start of `section`; for the pseudo-sections
/// "ELF header" and "section headers", and when `section` is nil, it counts
/// from the start of the file.
public struct ObjectReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var section: String?
    public var offset: UInt64
    public var reason: String

    public init(section: String?, offset: UInt64, reason: String) {
        self.section = section
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        if let section { return "\(section) at offset \(offset): \(reason)" }
        return "at offset \(offset): \(reason)"
    }
}
