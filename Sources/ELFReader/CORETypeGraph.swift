/// The type questions CO-RE asks of both sides, the object's BTF and the
/// target kernel's, written once over either (libbpf `relo_core.c` helpers:
/// `skip_mods_and_typedefs`, `btf__resolve_size`, kind tests).
///
/// `nil` stands for `void` (id 0): a real type of kind 0 to libbpf, which
/// pointers to void and functions returning nothing refer to.
protocol CORETypeGraph {
    /// The type with `id`, nil for void; throws for ids that do not exist.
    func type(_ id: UInt32) throws(COREFailure) -> BTFType?
}

/// Why a relocation could not be computed (not a poisoning: an error, as in libbpf).
struct COREFailure: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The object's own BTF, already decoded.
struct LocalTypes: CORETypeGraph {
    let spec: BTFSpec
    func type(_ id: UInt32) throws(COREFailure) -> BTFType? {
        guard id != 0 else { return nil }
        guard let type = spec.type(id: id) else { throw COREFailure("local type \(id) does not exist") }
        return type
    }
}

/// A kernel BTF, each type decoded once on first use.
final class TargetTypes: CORETypeGraph {
    let btf: KernelBTF
    private var decoded: [UInt32: BTFType] = [:]

    init(_ btf: KernelBTF) { self.btf = btf }

    func type(_ id: UInt32) throws(COREFailure) -> BTFType? {
        if let type = decoded[id] { return type }
        do {
            guard let type = try btf.type(id) else { return nil }
            decoded[id] = type
            return type
        } catch {
            throw COREFailure("target BTF \(btf.name): \(error)")
        }
    }
}

/// libbpf's recursion bound for type walks (and cilium/ebpf's, and aya's).
let coreMaximumDepth = 32

extension CORETypeGraph {
    /// Skips const, volatile, restrict, type tags and typedefs: the type below, and its id.
    func skippingModifiers(_ id: UInt32) throws(COREFailure) -> (id: UInt32, type: BTFType?) {
        var current = id
        for _ in 0...coreMaximumDepth {
            guard let type = try type(current) else { return (current, nil) }
            switch type.kind {
            case .typedef(let next), .const(let next), .volatile(let next), .restrict(let next), .typeTag(let next):
                current = next
            default:
                return (current, type)
            }
        }
        throw COREFailure("type \(id): modifier or typedef chain deeper than \(coreMaximumDepth) (a loop?)")
    }

    /// `btf__resolve_size`: bytes of a value of type `id`, or a failure for
    /// void, functions and forward declarations (which have no size).
    func size(of id: UInt32) throws(COREFailure) -> UInt64 {
        var current = id
        var elements: UInt64 = 1
        for _ in 0..<coreMaximumDepth {
            guard let type = try type(current) else { break }
            var size: UInt32?
            switch type.kind {
            case .int(let bytes, _, _, _), .structure(let bytes, _), .union(let bytes, _), .enumeration(let bytes, _, _),
                 .enumeration64(let bytes, _, _), .dataSection(let bytes, _), .float(let bytes):
                size = bytes
            case .pointer:
                size = 8  // BPF and the kernels it runs on are 64-bit
            case .typedef(let next), .volatile(let next), .const(let next), .restrict(let next), .variable(let next, _),
                 .declTag(let next, _), .typeTag(let next):
                current = next
            case .array(let element, _, let count):
                guard elements == 0 || UInt64(count) <= UInt64(UInt32.max) / elements else {
                    throw COREFailure("type \(id): array size overflows")
                }
                elements *= UInt64(count)
                current = element
            case .forward, .function, .functionProto:
                throw COREFailure("type \(id): \(type.kind.name) \(type.displayName) has no size")
            }
            if let size {
                let (total, overflow) = UInt64(size).multipliedReportingOverflow(by: elements)
                guard !overflow, total <= UInt64(UInt32.max) else { throw COREFailure("type \(id): size overflows") }
                return total
            }
        }
        throw COREFailure("type \(id) has no size (void, or a chain deeper than \(coreMaximumDepth))")
    }
}

extension BTFType {
    /// `struct sock`, `union foo`, `enum tcp_ca_state`, `u32`, `(anon)`.
    var cName: String {
        let shown = name.isEmpty ? "(anon)" : name
        switch kind {
        case .structure: return "struct \(shown)"
        case .union: return "union \(shown)"
        case .enumeration, .enumeration64: return "enum \(shown)"
        case .forward(let isUnion): return (isUnion ? "union " : "struct ") + shown
        default: return shown
        }
    }

    var displayName: String { name.isEmpty ? "(anon)" : name }

    var members: [BTFMember]? {
        switch kind {
        case .structure(_, let members), .union(_, let members): return members
        default: return nil
        }
    }

    var enumValues: [BTFEnumValue]? {
        switch kind {
        case .enumeration(_, _, let values), .enumeration64(_, _, let values): return values
        default: return nil
        }
    }

    var isComposite: Bool { members != nil }
    var isEnum: Bool { enumValues != nil }
    var isPointer: Bool { if case .pointer = kind { return true } else { return false } }
}

/// Kind number with void as 0 (`btf_kind`).
func coreKindNumber(_ type: BTFType?) -> Int { type?.kind.number ?? 0 }

/// `btf_kind_core_compat`: the same kind, or two enums of either width.
func coreKindsCompatible(_ a: BTFType?, _ b: BTFType?) -> Bool {
    coreKindNumber(a) == coreKindNumber(b) || (a?.isEnum == true && b?.isEnum == true)
}

/// Whether two names agree once their `___flavor` suffixes are dropped.
func coreEssentialNamesEqual(_ a: String, _ b: String) -> Bool {
    KernelBTF.essentialName(a) == KernelBTF.essentialName(b)
}
