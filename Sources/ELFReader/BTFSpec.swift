/// The `.BTF` section: type information clang emits with `-g`.
public struct BTFSpec: Sendable, Equatable {
    /// The section's bytes as the kernel should receive them for `BPF_BTF_LOAD`:
    /// DATASEC sizes and VAR offsets (0 in the object) already filled in from
    /// the ELF section sizes and symbol values.
    public var kernelBytes: [UInt8]
    /// Types in id order; id 0 is `void` and is not stored, so `types[0]` has id 1.
    public var types: [BTFType]
    /// The string table.
    public var strings: [UInt8]

    public init(kernelBytes: [UInt8], types: [BTFType], strings: [UInt8]) {
        self.kernelBytes = kernelBytes
        self.types = types
        self.strings = strings
    }

    /// The type with `id`, or nil for 0 (`void`) and out-of-range ids.
    public func type(id: UInt32) -> BTFType? {
        guard id > 0, let index = Int(exactly: id - 1), index < types.count else { return nil }
        return types[index]
    }

    /// The string at `offset` in the string table, or nil if out of range.
    public func string(at offset: UInt32) -> String? {
        guard let start = Int(exactly: offset), start < strings.count else { return nil }
        var end = start
        while end < strings.count && strings[end] != 0 { end += 1 }
        return String(decoding: strings[start..<end], as: UTF8.self)
    }
}

/// One BTF type record.
public struct BTFType: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    public var kind: BTFKind

    public init(id: UInt32, name: String, kind: BTFKind) {
        self.id = id
        self.name = name
        self.kind = kind
    }
}

public struct BTFMember: Sendable, Equatable {
    public var name: String
    public var typeID: UInt32
    /// Offset in bits (bitfield size folded out when the struct's kind_flag is set).
    public var bitOffset: UInt32
    /// Bitfield size in bits; 0 when not a bitfield.
    public var bitfieldSize: UInt32
    public init(name: String, typeID: UInt32, bitOffset: UInt32, bitfieldSize: UInt32) {
        self.name = name; self.typeID = typeID; self.bitOffset = bitOffset; self.bitfieldSize = bitfieldSize
    }
}

public struct BTFEnumValue: Sendable, Equatable {
    public var name: String
    public var value: Int64
    public init(name: String, value: Int64) { self.name = name; self.value = value }
}

public struct BTFParameter: Sendable, Equatable {
    public var name: String
    public var typeID: UInt32
    public init(name: String, typeID: UInt32) { self.name = name; self.typeID = typeID }
}

public struct BTFVarSecInfo: Sendable, Equatable {
    public var typeID: UInt32
    public var offset: UInt32
    public var size: UInt32
    public init(typeID: UInt32, offset: UInt32, size: UInt32) { self.typeID = typeID; self.offset = offset; self.size = size }
}

/// Every kind clang emits (BTF_KIND_* 1...19).
public enum BTFKind: Sendable, Equatable {
    case int(size: UInt32, encoding: UInt8, bitOffset: UInt8, bits: UInt8)
    case pointer(typeID: UInt32)
    case array(elementTypeID: UInt32, indexTypeID: UInt32, count: UInt32)
    case structure(size: UInt32, members: [BTFMember])
    case union(size: UInt32, members: [BTFMember])
    case enumeration(size: UInt32, signed: Bool, values: [BTFEnumValue])
    case forward(isUnion: Bool)
    case typedef(typeID: UInt32)
    case volatile(typeID: UInt32)
    case const(typeID: UInt32)
    case restrict(typeID: UInt32)
    /// linkage: 0 static, 1 global, 2 extern.
    case function(protoTypeID: UInt32, linkage: UInt32)
    case functionProto(returnTypeID: UInt32, parameters: [BTFParameter])
    /// linkage: 0 static, 1 global allocated, 2 extern.
    case variable(typeID: UInt32, linkage: UInt32)
    case dataSection(size: UInt32, variables: [BTFVarSecInfo])
    case float(size: UInt32)
    /// componentIndex -1 tags the type or variable itself.
    case declTag(typeID: UInt32, componentIndex: Int32)
    case typeTag(typeID: UInt32)
    case enumeration64(size: UInt32, signed: Bool, values: [BTFEnumValue])
}
