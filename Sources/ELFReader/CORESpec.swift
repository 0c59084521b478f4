/// An access path, parsed against one BTF: libbpf's `struct bpf_core_spec`.
///
/// The access string `0:0:12` of `sk->__sk_common.skc_net` is the low-level
/// path (`raw`): every index, including anonymous structs and unions passed
/// through. The high-level path (`accessors`) keeps only what C code names:
/// the root (`sk[0]`), named members, array elements. Matching a target type
/// follows the high-level path by member NAME, so anonymous wrappers may come
/// and go between kernels; `bitOffset` is where the field ends up.
struct CORESpec {
    struct Accessor {
        /// For a member: the struct or union holding it. For the root or an
        /// array element: the element's type.
        var typeID: UInt32
        var index: Int
        /// Member (or enumerator) name; nil for the root and array elements.
        var name: String?
    }

    var rootTypeID: UInt32
    var kind: COREKind
    var accessors: [Accessor] = []
    var raw: [Int] = []
    var bitOffset: Int = 0

    /// C terms: `sock.__sk_common.skc_net`, `sk_buff.cb[3]`, `tcp_ca_state::TCP_CA_Loss`.
    func access(rootName: String) -> String {
        let root = rootName.isEmpty ? "(anon)" : rootName
        if kind.isTypeBased { return root }
        if kind.isEnumValueBased { return root + "::" + (accessors.first?.name ?? "?") }
        var text = root
        for (position, accessor) in accessors.enumerated() {
            if let name = accessor.name {
                text += "." + name
            } else if position > 0 || accessor.index > 0 {
                text += "[\(accessor.index)]"
            }
        }
        return text
    }
}

/// Arithmetic on offsets read from a file: overflow is a failure, not a trap.
private func checkedBits(_ index: Int, _ size: UInt64) throws(COREFailure) -> Int {
    let (bytes, overflow1) = UInt64(index).multipliedReportingOverflow(by: size)
    let (bits, overflow2) = bytes.multipliedReportingOverflow(by: 8)
    guard !overflow1, !overflow2, bits <= UInt64(UInt32.max) else { throw COREFailure("offset overflows 32 bits") }
    return Int(bits)
}

private func add(_ offset: inout Int, _ bits: Int) throws(COREFailure) {
    offset += bits
    guard offset <= Int(UInt32.max) else { throw COREFailure("offset overflows 32 bits") }
}

enum CORESpecParser {
    /// `bpf_core_parse_spec`: the local side, checked against the object's BTF.
    static func parse(_ relocation: CORERelocation, in local: LocalTypes) throws(COREFailure) -> CORESpec {
        guard let raw = relocation.accessIndices, !raw.isEmpty else {
            throw COREFailure("access string \"\(relocation.accessString)\" is not a list of indices")
        }
        var spec = CORESpec(rootTypeID: relocation.localTypeID, kind: relocation.kind)
        if relocation.kind.isTypeBased {
            guard relocation.accessString == "0" else {
                throw COREFailure("a \(relocation.kind.name) relocation must have access string \"0\", not \"\(relocation.accessString)\"")
            }
            return spec
        }
        spec.raw = raw
        var (id, type) = try local.skippingModifiers(relocation.localTypeID)
        spec.accessors.append(.init(typeID: id, index: raw[0], name: nil))

        if relocation.kind.isEnumValueBased {
            guard let values = type?.enumValues else { throw COREFailure("\(relocation.kind.name) on a type that is not an enum") }
            guard raw.count == 1, raw[0] < values.count else {
                throw COREFailure("enumerator index \(relocation.accessString) is out of range (\(values.count) values)")
            }
            spec.accessors[0].name = values[raw[0]].name
            return spec
        }

        spec.bitOffset = try checkedBits(raw[0], try local.size(of: id))
        for (position, index) in raw.enumerated().dropFirst() {
            (id, type) = try local.skippingModifiers(id)
            if let members = type?.members {
                guard index < members.count else {
                    throw COREFailure("access index \(index) at position \(position) is past the \(members.count) members of \(type?.cName ?? "?")")
                }
                let member = members[index]
                try add(&spec.bitOffset, Int(member.bitOffset))
                if !member.name.isEmpty {
                    spec.accessors.append(.init(typeID: id, index: index, name: member.name))
                }
                id = member.typeID
            } else if case .array(let element, _, let count)? = type?.kind {
                let flexible = isFlexibleArray(count: count, after: spec.accessors.last, in: local)
                (id, _) = try local.skippingModifiers(element)
                guard flexible || index < count else {
                    throw COREFailure("array index \(index) at position \(position) is past the array's \(count) elements")
                }
                spec.accessors.append(.init(typeID: id, index: index, name: nil))
                try add(&spec.bitOffset, try checkedBits(index, try local.size(of: id)))
            } else {
                throw COREFailure("access index \(index) at position \(position) reaches \(type.map { "\($0.kind.name) \($0.displayName)" } ?? "void"), which is neither a struct, a union nor an array")
            }
        }
        return spec
    }

    /// `is_flex_arr`: a zero-length array that is the last member of its struct.
    static func isFlexibleArray(count: UInt32, after accessor: CORESpec.Accessor?, in graph: some CORETypeGraph) -> Bool {
        guard count == 0, let accessor, accessor.name != nil,
              let parent = try? graph.type(accessor.typeID), let members = parent.members else { return false }
        return accessor.index == members.count - 1
    }
}

/// Matching a local spec against one candidate root type of the target.
struct CORESpecMatcher<Target: CORETypeGraph> {
    let local: LocalTypes
    let target: Target
    /// Caps the search through nested anonymous members, which hostile BTF
    /// could make exponential.
    private var budget = 100_000

    init(local: LocalTypes, target: Target) {
        self.local = local
        self.target = target
    }

    /// `bpf_core_spec_match`: the target spec, or nil when the candidate does not match.
    mutating func match(_ localSpec: CORESpec, candidate: UInt32) throws(COREFailure) -> CORESpec? {
        var spec = CORESpec(rootTypeID: candidate, kind: localSpec.kind)
        if localSpec.kind.isTypeBased {
            let matches = localSpec.kind == .typeMatches
                ? try CORECompatibility.typesMatch(local, localSpec.rootTypeID, target, candidate)
                : try CORECompatibility.typesAreCompatible(local, localSpec.rootTypeID, target, candidate)
            return matches ? spec : nil
        }
        if localSpec.kind.isEnumValueBased {
            let (id, type) = try target.skippingModifiers(candidate)
            guard let values = type?.enumValues, let wanted = localSpec.accessors.first?.name else { return nil }
            let essential = KernelBTF.essentialName(wanted)
            guard let index = values.firstIndex(where: { KernelBTF.essentialName($0.name) == essential }) else { return nil }
            spec.accessors = [.init(typeID: id, index: index, name: values[index].name)]
            spec.raw = [index]
            return spec
        }

        var targetID = candidate
        for (position, localAccessor) in localSpec.accessors.enumerated() {
            let (skippedID, targetType) = try target.skippingModifiers(targetID)
            targetID = skippedID
            if localAccessor.name != nil {
                guard let next = try matchMember(localAccessor, in: targetID, spec: &spec) else { return nil }
                targetID = next
            } else {
                // The root is already the element type; later elements index an array.
                if position > 0 {
                    guard case .array(let element, _, let count)? = targetType?.kind else { return nil }
                    let flexible = CORESpecParser.isFlexibleArray(count: count, after: spec.accessors.last, in: target)
                    guard flexible || localAccessor.index < count else { return nil }
                    targetID = try target.skippingModifiers(element).id
                }
                guard spec.raw.count < CORERelocation.maximumAccessLength else { throw COREFailure("access path nests deeper than 64") }
                spec.accessors.append(.init(typeID: targetID, index: localAccessor.index, name: nil))
                spec.raw.append(localAccessor.index)
                try add(&spec.bitOffset, try checkedBits(localAccessor.index, try target.size(of: targetID)))
            }
        }
        return spec
    }

    /// `bpf_core_match_member`: finds the member named like the local one in
    /// `targetID`, descending into anonymous members; returns the member's type id.
    private mutating func matchMember(_ localAccessor: CORESpec.Accessor, in targetID: UInt32,
                                      spec: inout CORESpec) throws(COREFailure) -> UInt32? {
        budget -= 1
        guard budget > 0 else { throw COREFailure("too many nested anonymous members to search") }
        let (compositeID, composite) = try target.skippingModifiers(targetID)
        guard let members = composite?.members else { return nil }
        guard let localParent = try local.type(localAccessor.typeID), let localMembers = localParent.members,
              localAccessor.index < localMembers.count else { throw COREFailure("local accessor does not name a member") }
        let localMember = localMembers[localAccessor.index]

        for (index, member) in members.enumerated() {
            guard spec.raw.count < CORERelocation.maximumAccessLength else { throw COREFailure("access path nests deeper than 64") }
            // Speculate that this member is the one; undo below if not. (A same-named but
            // incompatible field deeper down leaves its indices behind, as in libbpf.)
            try add(&spec.bitOffset, Int(member.bitOffset))
            spec.raw.append(index)
            if member.name.isEmpty {
                if let found = try matchMember(localAccessor, in: member.typeID, spec: &spec) { return found }
            } else if member.name == localMember.name {
                guard try CORECompatibility.fieldsAreCompatible(local, localMember.typeID, target, member.typeID) else { return nil }
                spec.accessors.append(.init(typeID: compositeID, index: index, name: member.name))
                return member.typeID
            }
            spec.bitOffset -= Int(member.bitOffset)
            spec.raw.removeLast()
        }
        return nil
    }
}
