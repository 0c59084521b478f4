@testable import ELFReader

/// Encodes `BTFKind` values into `.BTF` bytes (BTFTests' `BTFBuilder` writes raw records), so CO-RE tests can build a local and
/// a target BTF side by side. Ids are assigned in order from `firstID`
/// (1, or after a base for split BTF); names go into a string table whose
/// offsets start at `stringBase` (a base's string section size for split BTF).
struct BTFTypeBuilder {
    private(set) var types: [BTFKind] = []
    private var names: [String] = []
    let firstID: UInt32
    let stringBase: Int
    private var strings: [UInt8]
    private var stringOffsets: [String: UInt32] = [:]

    init(firstID: UInt32 = 1, stringBase: Int = 0) {
        self.firstID = firstID
        self.stringBase = stringBase
        // A base table starts with the empty string; a split one has its own NUL too (libbpf does the same).
        strings = [0]
        stringOffsets[""] = stringBase == 0 ? 0 : 0
    }

    /// Adds a type and returns its id.
    @discardableResult
    mutating func add(_ name: String = "", _ kind: BTFKind) -> UInt32 {
        types.append(kind)
        names.append(name)
        return firstID + UInt32(types.count - 1)
    }

    private mutating func offset(_ name: String) -> UInt32 {
        if name.isEmpty { return 0 }
        if let known = stringOffsets[name] { return known }
        let offset = UInt32(stringBase + strings.count)
        strings += Array(name.utf8) + [0]
        stringOffsets[name] = offset
        return offset
    }

    mutating func bytes() -> [UInt8] {
        var body: [UInt8] = []
        func u32(_ value: UInt32) { body += withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        func header(_ name: String, kind: UInt32, vlen: Int = 0, flag: Bool = false, sizeOrType: UInt32) {
            u32(offset(name))
            u32((flag ? 1 << 31 : 0) | kind << 24 | UInt32(vlen))
            u32(sizeOrType)
        }
        for (kind, name) in zip(types, names) {
            switch kind {
            case .int(let size, let encoding, let bitOffset, let bits):
                header(name, kind: 1, sizeOrType: size)
                u32(UInt32(encoding) << 24 | UInt32(bitOffset) << 16 | UInt32(bits))
            case .pointer(let target): header(name, kind: 2, sizeOrType: target)
            case .array(let element, let index, let count):
                header(name, kind: 3, sizeOrType: 0); u32(element); u32(index); u32(count)
            case .structure(let size, let members), .union(let size, let members):
                let bitfields = members.contains { $0.bitfieldSize > 0 }
                header(name, kind: kind.number == 4 ? 4 : 5, vlen: members.count, flag: bitfields, sizeOrType: size)
                for member in members {
                    u32(offset(member.name)); u32(member.typeID)
                    u32(bitfields ? member.bitfieldSize << 24 | member.bitOffset : member.bitOffset)
                }
            case .enumeration(let size, let signed, let values):
                header(name, kind: 6, vlen: values.count, flag: signed, sizeOrType: size)
                for value in values { u32(offset(value.name)); u32(UInt32(truncatingIfNeeded: value.value)) }
            case .forward(let isUnion): header(name, kind: 7, flag: isUnion, sizeOrType: 0)
            case .typedef(let target): header(name, kind: 8, sizeOrType: target)
            case .volatile(let target): header(name, kind: 9, sizeOrType: target)
            case .const(let target): header(name, kind: 10, sizeOrType: target)
            case .restrict(let target): header(name, kind: 11, sizeOrType: target)
            case .function(let proto, let linkage): header(name, kind: 12, vlen: Int(linkage), sizeOrType: proto)
            case .functionProto(let returnType, let parameters):
                header(name, kind: 13, vlen: parameters.count, sizeOrType: returnType)
                for parameter in parameters { u32(offset(parameter.name)); u32(parameter.typeID) }
            case .variable(let target, let linkage): header(name, kind: 14, sizeOrType: target); u32(linkage)
            case .dataSection(let size, let variables):
                header(name, kind: 15, vlen: variables.count, sizeOrType: size)
                for variable in variables { u32(variable.typeID); u32(variable.offset); u32(variable.size) }
            case .float(let size): header(name, kind: 16, sizeOrType: size)
            case .declTag(let target, let component): header(name, kind: 17, sizeOrType: target); u32(UInt32(bitPattern: component))
            case .typeTag(let target): header(name, kind: 18, sizeOrType: target)
            case .enumeration64(let size, let signed, let values):
                header(name, kind: 19, vlen: values.count, flag: signed, sizeOrType: size)
                for value in values {
                    let raw = UInt64(bitPattern: value.value)
                    u32(offset(value.name)); u32(UInt32(truncatingIfNeeded: raw)); u32(UInt32(truncatingIfNeeded: raw >> 32))
                }
            }
        }
        var out: [UInt8] = [0x9f, 0xeb, 1, 0]
        func put(_ value: UInt32) { out += withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        put(24); put(0); put(UInt32(body.count)); put(UInt32(body.count)); put(UInt32(strings.count))
        return out + body + strings
    }

    /// The object-side view: what `ObjectReader` would have parsed.
    mutating func localSpec() throws -> BTFSpec { try BTFParser.parse(bytes()).spec }
}

/// Struct members in the builder's terms: (name, type id, bit offset[, bitfield bits]).
func members(_ list: [(String, UInt32, UInt32)]) -> [BTFMember] {
    list.map { BTFMember(name: $0.0, typeID: $0.1, bitOffset: $0.2, bitfieldSize: 0) }
}
