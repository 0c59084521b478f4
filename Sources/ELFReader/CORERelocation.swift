/// A CO-RE ("compile once, run everywhere") relocation: clang's record of one
/// instruction whose immediate or offset depends on a kernel type's layout.
///
/// In `.BTF.ext`, each record (`struct bpf_core_relo`) is four u32s:
///
///     insn_off       byte offset of the instruction in its ELF section
///     type_id        the local BTF type the access starts from (e.g. `struct sock`)
///     access_str_off a string in `.BTF`: member and array indices, "0:0:12"
///     kind           what the instruction needs (`COREKind`)
///
/// The reader moves `insn_off` to a slot of the linked program, as for
/// func_info and line_info; `CORERelocator` computes the value for a target
/// kernel (docs/CORE.md).
public struct CORERelocation: Sendable, Equatable {
    /// Slot in `ProgramSpec.instructions` (the first slot of an `ld_imm64`).
    public var instructionIndex: Int
    /// The root type in the object's BTF.
    public var localTypeID: UInt32
    /// Colon-separated indices, as clang wrote them: the first indexes the
    /// root pointer (`sk[0]`), each later one a member or an array element.
    public var accessString: String
    public var kind: COREKind

    public init(instructionIndex: Int, localTypeID: UInt32, accessString: String, kind: COREKind) {
        self.instructionIndex = instructionIndex
        self.localTypeID = localTypeID
        self.accessString = accessString
        self.kind = kind
    }

    /// The access string's indices, or nil when it is not `N(:N)*` with each N
    /// a non-negative number below 2^31 (libbpf's rule; at most 64 of them).
    public var accessIndices: [Int]? { Self.parseAccessString(accessString) }

    static let maximumAccessLength = 64

    static func parseAccessString(_ text: String) -> [Int]? {
        var indices: [Int] = []
        var current: Int?
        for byte in text.utf8 {
            if byte == UInt8(ascii: ":") {
                guard let value = current else { return nil }
                indices.append(value)
                current = nil
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                let next = (current ?? 0) * 10 + Int(byte - UInt8(ascii: "0"))
                guard next <= Int(Int32.max) else { return nil }
                current = next
            } else {
                return nil
            }
        }
        guard let last = current else { return nil }
        indices.append(last)
        return indices.count <= maximumAccessLength ? indices : nil
    }
}

/// `enum bpf_core_relo_kind` (`include/uapi/linux/bpf.h`), with libbpf's names.
public enum COREKind: UInt32, Sendable, Equatable, CaseIterable {
    /// Byte offset of a field: `bpf_core_field_offset`, and every `sk->field` read.
    case fieldByteOffset = 0
    case fieldByteSize = 1
    case fieldExists = 2
    case fieldSigned = 3
    /// Bitfield extraction: shift left by this, then right by `fieldRightShift`.
    case fieldLeftShift = 4
    case fieldRightShift = 5
    case localTypeID = 6
    case targetTypeID = 7
    case typeExists = 8
    case typeSize = 9
    case enumValueExists = 10
    case enumValue = 11
    case typeMatches = 12

    /// As libbpf prints it (`core_relo_kind_str`), and as `inspect --json` spells `core_kind`.
    public var name: String {
        switch self {
        case .fieldByteOffset: return "byte_off"
        case .fieldByteSize: return "byte_sz"
        case .fieldExists: return "field_exists"
        case .fieldSigned: return "signed"
        case .fieldLeftShift: return "lshift_u64"
        case .fieldRightShift: return "rshift_u64"
        case .localTypeID: return "local_type_id"
        case .targetTypeID: return "target_type_id"
        case .typeExists: return "type_exists"
        case .typeSize: return "type_size"
        case .enumValueExists: return "enumval_exists"
        case .enumValue: return "enumval_value"
        case .typeMatches: return "type_matches"
        }
    }

    /// Relocations about a field reached through an access path.
    public var isFieldBased: Bool { rawValue <= 5 }
    /// Relocations about a whole type: the access string is "0".
    public var isTypeBased: Bool { (6...9).contains(rawValue) || self == .typeMatches }
    /// Relocations about one enumerator: the access string is its index.
    public var isEnumValueBased: Bool { self == .enumValueExists || self == .enumValue }
}
