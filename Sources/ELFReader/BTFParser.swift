/// Parses the `.BTF` section: a header, a run of type records, a string table.
///
/// Layout (`include/uapi/linux/btf.h`):
///
///     header: magic u16 (0xeB9F), version u8, flags u8, hdr_len u32,
///             type_off u32, type_len u32, str_off u32, str_len u32
///     types:  one record per type, ids counted from 1 in order;
///             each is name_off u32, info u32 (vlen:16, kind:5 at bit 24,
///             kind_flag at bit 31), size-or-type u32, then kind-specific data
///     strings: NUL-terminated, offset 0 is the empty string
///
/// Offsets in the header are relative to the end of the header.
enum BTFParser {
    static let magic: UInt16 = 0xeb9f
    static let section = ".BTF"

    /// Where a DATASEC record sits in the section, so that its size and
    /// variable offsets can be patched for the kernel.
    struct DataSectionRecord {
        let typeID: UInt32
        let name: String
        /// Byte offset of the record's size field in the `.BTF` section.
        let sizeFieldOffset: Int
        /// Byte offset of the first `btf_var_secinfo` (type u32, offset u32, size u32).
        let variablesOffset: Int
        let variableCount: Int
    }

    struct Result {
        var spec: BTFSpec
        var dataSections: [DataSectionRecord]
        /// Byte offset in `.BTF` of each type record, by id - 1 (for error messages).
        var recordOffsets: [Int]
    }

    static func parse(_ bytes: [UInt8]) throws(ObjectReadError) -> Result {
        var header = ByteReader(bytes, context: section)
        let magic = try header.readU16()
        guard magic == Self.magic else {
            if magic == 0x9feb { throw header.error("big-endian BTF is not supported", at: 0) }
            throw header.error("bad magic 0x\(String(magic, radix: 16)), expected 0xeb9f", at: 0)
        }
        let version = try header.readU8()
        guard version == 1 else { throw header.error("BTF version \(version) is not supported (expected 1)", at: 2) }
        _ = try header.readU8()  // flags: none defined
        let headerLength = try header.readU32()
        let typeOffset = try header.readU32()
        let typeLength = try header.readU32()
        let stringOffset = try header.readU32()
        let stringLength = try header.readU32()
        guard headerLength >= 24 else { throw header.error("header length \(headerLength) is shorter than 24", at: 4) }

        // Widen to UInt64 before adding, so hostile lengths cannot overflow.
        let typeRange = try subrange(of: bytes, start: UInt64(headerLength) + UInt64(typeOffset),
                                     length: UInt64(typeLength), what: "type section", fieldOffset: 8)
        let stringRange = try subrange(of: bytes, start: UInt64(headerLength) + UInt64(stringOffset),
                                       length: UInt64(stringLength), what: "string section", fieldOffset: 16)
        let strings = Array(bytes[stringRange])
        let stringTable = StringTable(bytes: strings, context: section)

        var reader = ByteReader(bytes, context: section)
        try reader.seek(to: UInt64(typeRange.lowerBound))
        var types: [BTFType] = []
        var dataSections: [DataSectionRecord] = []
        var recordOffsets: [Int] = []
        while reader.position < typeRange.upperBound {
            let id = UInt32(types.count + 1)
            let recordStart = reader.position
            let type = try readType(&reader, id: id) { (offset: UInt32) throws(ObjectReadError) -> String in
                try stringTable.string(at: UInt64(offset))
            }
            if case .dataSection(_, let variables) = type.kind {
                dataSections.append(DataSectionRecord(typeID: id, name: type.name, sizeFieldOffset: recordStart + 8,
                                                      variablesOffset: recordStart + 12, variableCount: variables.count))
            }
            guard reader.position <= typeRange.upperBound else {
                throw reader.error("type \(id) (\(type.name)) runs past the end of the type section", at: recordStart)
            }
            types.append(type)
            recordOffsets.append(recordStart)
        }
        let spec = BTFSpec(kernelBytes: bytes, types: types, strings: strings)
        return Result(spec: spec, dataSections: dataSections, recordOffsets: recordOffsets)
    }

    /// Decodes the type record at the reader's position (id `id`); `string`
    /// looks a name offset up (split BTF spreads names over two tables).
    static func readType(_ reader: inout ByteReader, id: UInt32,
                         string: (UInt32) throws(ObjectReadError) -> String) throws(ObjectReadError) -> BTFType {
        let recordStart = reader.position
        let nameOffset = try reader.readU32()
        let info = try reader.readU32()
        let sizeOrType = try reader.readU32()
        let vlen = Int(info & 0xffff)
        let kindNumber = (info >> 24) & 0x1f
        let kindFlag = info >> 31 != 0
        let name: String
        do { name = try string(nameOffset) } catch {
            throw reader.error("type \(id): name: \(error.reason)", at: recordStart)
        }
        // Member names are looked up in the same table.
        func memberName(_ offset: UInt32) throws(ObjectReadError) -> String {
            do { return try string(offset) } catch {
                throw reader.error("type \(id) (\(name)): member name: \(error.reason)")
            }
        }

        let kind: BTFKind
        switch kindNumber {
        case 1:
            let encoding = try reader.readU32()
            kind = .int(size: sizeOrType, encoding: UInt8(truncatingIfNeeded: encoding >> 24),
                        bitOffset: UInt8(truncatingIfNeeded: encoding >> 16), bits: UInt8(truncatingIfNeeded: encoding))
        case 2: kind = .pointer(typeID: sizeOrType)
        case 3:
            let element = try reader.readU32()
            let index = try reader.readU32()
            let count = try reader.readU32()
            kind = .array(elementTypeID: element, indexTypeID: index, count: count)
        case 4, 5:
            try reader.require(vlen * 12)
            var members: [BTFMember] = []
            members.reserveCapacity(vlen)
            for _ in 0..<vlen {
                let memberNameOffset = try reader.readU32()
                let memberType = try reader.readU32()
                let offset = try reader.readU32()
                // With kind_flag set, the top 8 bits hold a bitfield size.
                let member = BTFMember(name: try memberName(memberNameOffset), typeID: memberType,
                                       bitOffset: kindFlag ? offset & 0xff_ffff : offset,
                                       bitfieldSize: kindFlag ? offset >> 24 : 0)
                members.append(member)
            }
            kind = kindNumber == 4 ? .structure(size: sizeOrType, members: members)
                                   : .union(size: sizeOrType, members: members)
        case 6:
            try reader.require(vlen * 8)
            var values: [BTFEnumValue] = []
            values.reserveCapacity(vlen)
            for _ in 0..<vlen {
                let valueName = try reader.readU32()
                let raw = try reader.readU32()
                let value = kindFlag ? Int64(Int32(bitPattern: raw)) : Int64(raw)
                values.append(BTFEnumValue(name: try memberName(valueName), value: value))
            }
            kind = .enumeration(size: sizeOrType, signed: kindFlag, values: values)
        case 7: kind = .forward(isUnion: kindFlag)
        case 8: kind = .typedef(typeID: sizeOrType)
        case 9: kind = .volatile(typeID: sizeOrType)
        case 10: kind = .const(typeID: sizeOrType)
        case 11: kind = .restrict(typeID: sizeOrType)
        case 12: kind = .function(protoTypeID: sizeOrType, linkage: UInt32(vlen))
        case 13:
            try reader.require(vlen * 8)
            var parameters: [BTFParameter] = []
            parameters.reserveCapacity(vlen)
            for _ in 0..<vlen {
                let parameterName = try reader.readU32()
                let parameterType = try reader.readU32()
                parameters.append(BTFParameter(name: try memberName(parameterName), typeID: parameterType))
            }
            kind = .functionProto(returnTypeID: sizeOrType, parameters: parameters)
        case 14:
            let linkage = try reader.readU32()
            kind = .variable(typeID: sizeOrType, linkage: linkage)
        case 15:
            try reader.require(vlen * 12)
            var variables: [BTFVarSecInfo] = []
            variables.reserveCapacity(vlen)
            for _ in 0..<vlen {
                let variableType = try reader.readU32()
                let offset = try reader.readU32()
                let size = try reader.readU32()
                variables.append(BTFVarSecInfo(typeID: variableType, offset: offset, size: size))
            }
            kind = .dataSection(size: sizeOrType, variables: variables)
        case 16: kind = .float(size: sizeOrType)
        case 17:
            let component = try reader.readI32()
            kind = .declTag(typeID: sizeOrType, componentIndex: component)
        case 18: kind = .typeTag(typeID: sizeOrType)
        case 19:
            try reader.require(vlen * 12)
            var values: [BTFEnumValue] = []
            values.reserveCapacity(vlen)
            for _ in 0..<vlen {
                let valueName = try reader.readU32()
                let low = try reader.readU32()
                let high = try reader.readU32()
                let value = Int64(bitPattern: UInt64(high) << 32 | UInt64(low))
                values.append(BTFEnumValue(name: try memberName(valueName), value: value))
            }
            kind = .enumeration64(size: sizeOrType, signed: kindFlag, values: values)
        default:
            throw reader.error("type \(id): unknown BTF kind \(kindNumber)", at: recordStart)
        }
        return BTFType(id: id, name: name, kind: kind)
    }

    /// `start..<start+length` as a range of `bytes`, or an error naming the header field.
    private static func subrange(of bytes: [UInt8], start: UInt64, length: UInt64, what: String,
                                 fieldOffset: UInt64) throws(ObjectReadError) -> Range<Int> {
        guard start <= UInt64(bytes.count), length <= UInt64(bytes.count) - start,
              let lower = Int(exactly: start), let count = Int(exactly: length) else {
            throw ObjectReadError(section: section, offset: fieldOffset,
                                  reason: "\(what) (offset \(start), \(length) bytes) lies outside the section (\(bytes.count) bytes)")
        }
        return lower..<lower + count
    }
}
