/// Parses `.BTF.ext`: per-section func_info, line_info and CO-RE relocation records.
///
/// Layout (`tools/lib/bpf/libbpf_internal.h`, `struct btf_ext_header`):
///
///     header: magic u16 (0xeB9F), version u8, flags u8, hdr_len u32,
///             func_info_off u32, func_info_len u32,
///             line_info_off u32, line_info_len u32,
///             core_relo_off u32, core_relo_len u32 (when hdr_len >= 32)
///     each info block: rec_size u32, then for each ELF section:
///             sec_name_off u32 (into the .BTF strings), num_info u32,
///             num_info records of rec_size bytes
///
/// In the file, `insn_off` counts BYTES from the start of the ELF section;
/// the kernel wants instruction slots from the start of the program. The
/// byte offsets are kept here; program linking converts them.
enum BTFExtParser {
    static let section = ".BTF.ext"

    struct SectionRecords {
        var funcInfo: [FuncInfo] = []
        var lineInfo: [LineInfo] = []
        var coreRelocations: [RawCORERelocation] = []
    }

    /// A `struct bpf_core_relo` with its access string looked up; `instructionOffset` in bytes.
    struct RawCORERelocation {
        var instructionOffset: UInt32
        var localTypeID: UInt32
        var accessString: String
        var kind: COREKind
    }

    /// Records by ELF section name, `instructionOffset` still in bytes.
    static func parse(_ bytes: [UInt8], strings: StringTable) throws(ObjectReadError) -> [String: SectionRecords] {
        var header = ByteReader(bytes, context: section)
        let magic = try header.readU16()
        guard magic == BTFParser.magic else {
            throw header.error("bad magic 0x\(String(magic, radix: 16)), expected 0xeb9f", at: 0)
        }
        let version = try header.readU8()
        guard version == 1 else { throw header.error("version \(version) is not supported (expected 1)", at: 2) }
        _ = try header.readU8()
        let headerLength = try header.readU32()
        let funcInfoOffset = try header.readU32()
        let funcInfoLength = try header.readU32()
        let lineInfoOffset = try header.readU32()
        let lineInfoLength = try header.readU32()
        guard headerLength >= 24 else { throw header.error("header length \(headerLength) is shorter than 24", at: 4) }

        var result: [String: SectionRecords] = [:]
        try readBlock(bytes, start: UInt64(headerLength) + UInt64(funcInfoOffset), length: UInt64(funcInfoLength),
                      what: "func_info", minimumRecordSize: 8, strings: strings) { (reader: inout ByteReader, sectionName: String) throws(ObjectReadError) in
            let instructionOffset = try reader.readU32()
            let typeID = try reader.readU32()
            result[sectionName, default: SectionRecords()].funcInfo.append(
                FuncInfo(instructionOffset: instructionOffset, typeID: typeID))
        }
        try readBlock(bytes, start: UInt64(headerLength) + UInt64(lineInfoOffset), length: UInt64(lineInfoLength),
                      what: "line_info", minimumRecordSize: 16, strings: strings) { (reader: inout ByteReader, sectionName: String) throws(ObjectReadError) in
            let instructionOffset = try reader.readU32()
            let fileNameOffset = try reader.readU32()
            let lineOffset = try reader.readU32()
            let lineColumn = try reader.readU32()
            result[sectionName, default: SectionRecords()].lineInfo.append(
                LineInfo(instructionOffset: instructionOffset, fileNameOffset: fileNameOffset,
                         lineOffset: lineOffset, lineColumn: lineColumn))
        }
        // CO-RE relocations arrived after func_info and line_info: older headers stop at 24 bytes.
        if headerLength >= 32 {
            let coreOffset = try header.readU32()
            let coreLength = try header.readU32()
            try readBlock(bytes, start: UInt64(headerLength) + UInt64(coreOffset), length: UInt64(coreLength),
                          what: "core_relo", minimumRecordSize: 16, strings: strings) { (reader: inout ByteReader, sectionName: String) throws(ObjectReadError) in
                let recordStart = reader.position
                let instructionOffset = try reader.readU32()
                let typeID = try reader.readU32()
                let accessOffset = try reader.readU32()
                let kindNumber = try reader.readU32()
                let accessString: String
                do throws(ObjectReadError) { accessString = try strings.string(at: UInt64(accessOffset)) } catch {
                    throw reader.error("core_relo for \(sectionName): access string: \(error.reason)", at: recordStart)
                }
                guard let kind = COREKind(rawValue: kindNumber) else {
                    throw reader.error("core_relo for \(sectionName): kind \(kindNumber) is not a CO-RE relocation kind (0...12)", at: recordStart)
                }
                guard CORERelocation.parseAccessString(accessString) != nil else {
                    throw reader.error("core_relo for \(sectionName): access string \"\(accessString)\" is not a list of indices such as 0:1:2", at: recordStart)
                }
                result[sectionName, default: SectionRecords()].coreRelocations.append(
                    RawCORERelocation(instructionOffset: instructionOffset, localTypeID: typeID,
                                      accessString: accessString, kind: kind))
            }
        }
        return result
    }

    /// Reads one info block; `record` reads the fields it knows from the start
    /// of each record (newer compilers may make records longer).
    private static func readBlock(_ bytes: [UInt8], start: UInt64, length: UInt64, what: String, minimumRecordSize: UInt32,
                                  strings: StringTable,
                                  record: (inout ByteReader, String) throws(ObjectReadError) -> Void) throws(ObjectReadError) {
        guard length > 0 else { return }
        guard start <= UInt64(bytes.count), length <= UInt64(bytes.count) - start,
              let lower = Int(exactly: start), let count = Int(exactly: length) else {
            throw ObjectReadError(section: section, offset: start,
                                  reason: "\(what) (offset \(start), \(length) bytes) lies outside the section (\(bytes.count) bytes)")
        }
        var reader = ByteReader(Array(bytes[lower..<lower + count]), context: section, origin: start)
        let recordSize = try reader.readU32()
        guard recordSize >= minimumRecordSize, recordSize % 4 == 0, let recordBytes = Int(exactly: recordSize) else {
            throw reader.error("\(what) record size \(recordSize) is invalid (at least \(minimumRecordSize), multiple of 4)", at: 0)
        }
        while !reader.isAtEnd {
            let blockStart = reader.position
            let nameOffset = try reader.readU32()
            let recordCount = try reader.readU32()
            let sectionName: String
            do { sectionName = try strings.string(at: UInt64(nameOffset)) } catch {
                throw reader.error("\(what): section name: \(error.reason)", at: blockStart)
            }
            // Check the whole run fits before looping, so a huge count fails fast.
            guard UInt64(recordCount) * UInt64(recordSize) <= UInt64(reader.remaining) else {
                throw reader.error("\(what) for \(sectionName): \(recordCount) records of \(recordSize) bytes do not fit", at: blockStart)
            }
            for _ in 0..<recordCount {
                let recordStart = reader.position
                try record(&reader, sectionName)
                try reader.seek(to: UInt64(recordStart + recordBytes))
            }
        }
    }
}
