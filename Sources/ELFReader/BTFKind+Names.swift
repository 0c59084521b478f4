extension BTFKind {
    /// The `BTF_KIND_*` number.
    public var number: Int {
        switch self {
        case .int: return 1
        case .pointer: return 2
        case .array: return 3
        case .structure: return 4
        case .union: return 5
        case .enumeration: return 6
        case .forward: return 7
        case .typedef: return 8
        case .volatile: return 9
        case .const: return 10
        case .restrict: return 11
        case .function: return 12
        case .functionProto: return 13
        case .variable: return 14
        case .dataSection: return 15
        case .float: return 16
        case .declTag: return 17
        case .typeTag: return 18
        case .enumeration64: return 19
        }
    }

    /// The kernel's name for the kind, as bpftool prints it (`STRUCT`, `FUNC_PROTO`, ...).
    public var name: String {
        switch self {
        case .int: return "INT"
        case .pointer: return "PTR"
        case .array: return "ARRAY"
        case .structure: return "STRUCT"
        case .union: return "UNION"
        case .enumeration: return "ENUM"
        case .forward: return "FWD"
        case .typedef: return "TYPEDEF"
        case .volatile: return "VOLATILE"
        case .const: return "CONST"
        case .restrict: return "RESTRICT"
        case .function: return "FUNC"
        case .functionProto: return "FUNC_PROTO"
        case .variable: return "VAR"
        case .dataSection: return "DATASEC"
        case .float: return "FLOAT"
        case .declTag: return "DECL_TAG"
        case .typeTag: return "TYPE_TAG"
        case .enumeration64: return "ENUM64"
        }
    }
}
