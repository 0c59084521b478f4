/// Follows BTF type references: through typedefs and qualifiers, and to sizes.
///
/// Type ids come from the file, so a chain can loop (a typedef naming
/// itself) or be absurdly deep. Every walk stops at `maximumDepth`, as
/// cilium/ebpf and aya do.
struct BTFTypeResolver {
    static let maximumDepth = 32

    let spec: BTFSpec
    /// Byte offset of each type's record in `.BTF`, by id - 1.
    let recordOffsets: [Int]

    init(spec: BTFSpec, recordOffsets: [Int] = []) {
        self.spec = spec
        self.recordOffsets = recordOffsets
    }

    func error(_ reason: String, typeID: UInt32) -> ObjectReadError {
        let offset = Int(exactly: typeID).flatMap { $0 >= 1 && $0 <= recordOffsets.count ? recordOffsets[$0 - 1] : nil } ?? 0
        return ObjectReadError(section: BTFParser.section, offset: UInt64(offset), reason: "type \(typeID): \(reason)")
    }

    /// The type with `id`; throws for void (0) and ids past the end.
    func type(_ id: UInt32) throws(ObjectReadError) -> BTFType {
        guard let type = spec.type(id: id) else {
            throw error(id == 0 ? "is void where a type is needed" : "no such type (there are \(spec.types.count))", typeID: id)
        }
        return type
    }

    /// The first type below `id` that is not a typedef, const, volatile,
    /// restrict or type tag.
    func skippingQualifiers(_ id: UInt32) throws(ObjectReadError) -> BTFType {
        var current = try type(id)
        for _ in 0..<Self.maximumDepth {
            switch current.kind {
            case .typedef(let next), .const(let next), .volatile(let next), .restrict(let next), .typeTag(let next):
                current = try type(next)
            default:
                return current
            }
        }
        throw error("type chain deeper than \(Self.maximumDepth) (a typedef loop?)", typeID: id)
    }

    /// The size in bytes of a value of type `id`.
    func size(of id: UInt32) throws(ObjectReadError) -> UInt64 {
        try size(of: id, depth: 0)
    }

    private func size(of id: UInt32, depth: Int) throws(ObjectReadError) -> UInt64 {
        guard depth < Self.maximumDepth else {
            throw error("type chain deeper than \(Self.maximumDepth) while computing a size (a loop?)", typeID: id)
        }
        let resolved = try type(id)
        switch resolved.kind {
        case .int(let size, _, _, _), .structure(let size, _), .union(let size, _), .enumeration(let size, _, _),
             .enumeration64(let size, _, _), .float(let size), .dataSection(let size, _):
            return UInt64(size)
        case .pointer:
            return 8  // BPF is a 64-bit target
        case .array(let element, _, let count):
            let (total, overflow) = try size(of: element, depth: depth + 1).multipliedReportingOverflow(by: UInt64(count))
            guard !overflow else { throw error("array size overflows", typeID: id) }
            return total
        case .typedef(let next), .const(let next), .volatile(let next), .restrict(let next), .typeTag(let next),
             .variable(let next, _):
            return try size(of: next, depth: depth + 1)
        case .forward, .function, .functionProto, .declTag:
            throw error("\(resolved.kind.name) \(resolved.name.isEmpty ? "(anon)" : resolved.name) has no size", typeID: id)
        }
    }
}
