/// Resolves CO-RE relocations against a target kernel, as libbpf does
/// (`tools/lib/bpf/relo_core.c`, `bpf_core_calc_relo_insn`):
///
/// 1. Parse the local access path (`CORESpecParser`).
/// 2. Candidates: target types of the same kind whose name, without any
///    `___flavor` suffix, equals the local one's; vmlinux first, modules only
///    if vmlinux has none.
/// 3. Match the path in each candidate, by member names (`CORESpecMatcher`).
/// 4. Compute the value for each matching candidate; they must all agree,
///    or the relocation is ambiguous (an error). Candidates that did not
///    match are dropped for later relocations of the same local type.
/// 5. No match: existence checks resolve to 0, everything else poisons its
///    instruction (see `patch`), so dead code behind an existence check still loads.
///
/// Pure: bytes were read by the caller. One relocator per object: the
/// candidate lists it keeps are per local type id of that object's BTF.
public struct CORERelocator {
    let local: LocalTypes
    let targets: [TargetTypes]
    /// Candidates per local root type id: (target index, type id), pruned as libbpf prunes them.
    private var candidates: [UInt32: [(target: Int, id: UInt32)]] = [:]

    public init(objectBTF: BTFSpec, target: CORETarget) {
        local = LocalTypes(spec: objectBTF)
        targets = ([target.vmlinux] + target.modules).map(TargetTypes.init)
    }

    init(local: LocalTypes, targets: [TargetTypes]) {
        self.local = local
        self.targets = targets
    }

    /// Every CO-RE relocation of `program`, resolved, in record order.
    public mutating func resolve(_ program: ProgramSpec) throws(CORERelocationError) -> [COREResolution] {
        try prefetchCandidates(for: [program])
        var resolutions: [COREResolution] = []
        resolutions.reserveCapacity(program.coreRelocations.count)
        for relocation in program.coreRelocations {
            var resolution = try resolve(relocation, program: program.name)
            // A load or store cannot follow a field whose width changed with its
            // meaning (signed ints, mixed kinds): poisoned, as libbpf does.
            if resolution.failsMemorySizeAdjustment, program.instructions.indices.contains(relocation.instructionIndex),
               [0x01, 0x02, 0x03].contains(program.instructions[relocation.instructionIndex].opcode & 0x07) {
                resolution.targetValue = nil
                resolution.poisonReason = "the field is \(resolution.memorySizes.target) bytes in the target, \(resolution.memorySizes.local) in the object, and not an unsigned int or pointer on both sides: a load cannot follow"
            }
            resolutions.append(resolution)
        }
        return resolutions
    }

    /// The object with every program's instructions patched, and what each relocation became.
    public static func relocate(_ object: ObjectSpec, target: CORETarget) throws(CORERelocationError)
        -> (object: ObjectSpec, resolutions: [String: [COREResolution]]) {
        var object = object
        var all: [String: [COREResolution]] = [:]
        guard let btf = object.btf else {
            if let program = object.programs.first(where: { !$0.coreRelocations.isEmpty }),
               let first = program.coreRelocations.first {
                throw CORERelocationError(program: program.name, instruction: first.instructionIndex, kind: first.kind,
                                          access: first.accessString, reason: "the object has no .BTF section")
            }
            return (object, [:])
        }
        var relocator = CORERelocator(objectBTF: btf, target: target)
        // One pass over the kernel's BTF for all programs' root types.
        try relocator.prefetchCandidates(for: object.programs)
        for index in object.programs.indices where !object.programs[index].coreRelocations.isEmpty {
            let program = object.programs[index]
            let resolutions = try relocator.resolve(program)
            object.programs[index].instructions = try patch(program, with: resolutions)
            all[program.name] = resolutions
        }
        return (object, all)
    }

    // MARK: - One relocation

    private mutating func resolve(_ relocation: CORERelocation, program: String) throws(CORERelocationError) -> COREResolution {
        let rootType = try? local.type(relocation.localTypeID)
        var access = relocation.accessString
        func fail(_ reason: String) -> CORERelocationError {
            CORERelocationError(program: program, instruction: relocation.instructionIndex, kind: relocation.kind,
                                access: access, reason: reason)
        }
        do throws(COREFailure) {
            let localSpec = try CORESpecParser.parse(relocation, in: local)
            access = localSpec.access(rootName: rootType?.name ?? "")
            var resolution = COREResolution(relocation: relocation, typeName: rootType?.cName ?? "void",
                                            access: access, localValue: 0, targetValue: nil)

            if relocation.kind == .localTypeID {
                resolution.localValue = UInt64(relocation.localTypeID)
                resolution.targetValue = UInt64(relocation.localTypeID)
                resolution.validatesLocalValue = false
                return resolution
            }
            guard let rootName = rootType?.name, !rootName.isEmpty else {
                throw COREFailure("CO-RE cannot relocate anonymous types (no name to look up in the target)")
            }

            var chosen: (result: Calculation, spec: CORESpec, candidate: (target: Int, id: UInt32))?
            var kept: [(target: Int, id: UInt32)] = []
            let candidateList = candidates[relocation.localTypeID] ?? []
            for candidate in candidateList {
                var matcher = CORESpecMatcher(local: local, target: targets[candidate.target])
                guard let targetSpec = try matcher.match(localSpec, candidate: candidate.id) else { continue }
                let result = try calculate(relocation.kind, local: localSpec, target: (targetSpec, targets[candidate.target]))
                if let chosen {
                    guard targetSpec.bitOffset == chosen.spec.bitOffset else {
                        throw COREFailure("ambiguous: candidates [\(chosen.candidate.id)] and [\(candidate.id)] put the field at bits \(chosen.spec.bitOffset) and \(targetSpec.bitOffset)")
                    }
                    guard result.target == chosen.result.target else {
                        throw COREFailure("ambiguous: candidates [\(chosen.candidate.id)] and [\(candidate.id)] give \(result.target.map(String.init) ?? "poison") and \(chosen.result.target.map(String.init) ?? "poison")")
                    }
                } else {
                    chosen = (result, targetSpec, candidate)
                }
                kept.append(candidate)
            }
            if !kept.isEmpty { candidates[relocation.localTypeID] = kept }

            let result: Calculation
            if let chosen { result = chosen.result } else { result = try calculate(relocation.kind, local: localSpec, target: nil) }
            resolution.localValue = result.local
            resolution.targetValue = result.target
            resolution.validatesLocalValue = result.validate
            resolution.memorySizes = result.memorySizes
            resolution.failsMemorySizeAdjustment = result.failsMemorySizeAdjustment
            if let chosen {
                resolution.targetTypeID = chosen.candidate.id
                resolution.targetBTF = targets[chosen.candidate.target].btf.name
                if relocation.kind.isFieldBased || relocation.kind.isEnumValueBased {
                    // Written out: `map(String.init).joined(separator:)` cost ~2,700 instructions a path.
                    var path = ""
                    for (position, index) in chosen.spec.raw.enumerated() {
                        if position > 0 { path += ":" }
                        path += String(index)
                    }
                    if relocation.kind.isFieldBased { path += " @ bit " + String(chosen.spec.bitOffset) }
                    resolution.targetPath = path
                }
            }
            if result.target == nil {
                resolution.poisonReason = candidateList.isEmpty
                    ? "the target has no type named \(KernelBTF.essentialName(rootName)) of this kind"
                    : "no candidate (of \(candidateList.count)) has \(access) with a compatible type"
            }
            return resolution
        } catch {
            throw fail(error.reason)
        }
    }

    // MARK: - Candidates

    /// What the candidate search will ask the target for, for `programs` of an object whose
    /// BTF is `objectBTF`: the loader passes these to `KernelBTF(vmlinux:indexing:)`, so that
    /// the kernel's BTF is walked once for everything.
    public static func candidateKeys(for programs: [ProgramSpec], objectBTF: BTFSpec) -> Set<KernelBTF.CandidateKey> {
        let local = LocalTypes(spec: objectBTF)
        var keys: Set<KernelBTF.CandidateKey> = []
        for program in programs {
            for relocation in program.coreRelocations {
                if let key = candidateKey(relocation, in: local) { keys.insert(key) }
            }
        }
        return keys
    }

    /// The kind and essential name of a relocation's root type; nil where no target type is
    /// looked up (`bpf_core_type_id_local`, anonymous or missing local types).
    private static func candidateKey(_ relocation: CORERelocation, in local: LocalTypes) -> KernelBTF.CandidateKey? {
        guard relocation.kind != .localTypeID, let type = try? local.type(relocation.localTypeID), !type.name.isEmpty else {
            return nil
        }
        return KernelBTF.CandidateKey(kindNumber: type.kind.number, name: type.name)
    }

    /// One pass over each target BTF for every root type of the program not searched yet.
    private mutating func prefetchCandidates(for programs: [ProgramSpec]) throws(CORERelocationError) {
        var wanted: [KernelBTF.CandidateKey: [UInt32]] = [:]
        let all = programs.flatMap { program in program.coreRelocations.map { (program: program.name, relocation: $0) } }
        for (_, relocation) in all where candidates[relocation.localTypeID] == nil {
            guard let key = Self.candidateKey(relocation, in: local) else { continue }
            if !(wanted[key]?.contains(relocation.localTypeID) ?? false) { wanted[key, default: []].append(relocation.localTypeID) }
        }
        guard !wanted.isEmpty else { return }
        for id in wanted.values.joined() { candidates[id] = [] }
        var missing = Set(wanted.keys)
        for (index, target) in targets.enumerated() where !missing.isEmpty {
            // Modules are searched only for names vmlinux lacks.
            let found: [KernelBTF.CandidateKey: [UInt32]]
            do { found = try target.btf.candidates(for: missing) } catch {
                let first = all.first
                throw CORERelocationError(program: first?.program ?? "", instruction: first?.relocation.instructionIndex ?? 0,
                                          kind: first?.relocation.kind ?? .fieldByteOffset,
                                          access: first?.relocation.accessString ?? "",
                                          reason: "target BTF \(target.btf.name): \(error)")
            }
            for (key, ids) in found where !ids.isEmpty {
                for localID in wanted[key] ?? [] { candidates[localID, default: []] += ids.map { (index, $0) } }
                if index == 0 { missing.remove(key) }
            }
        }
    }

    // MARK: - Values

    /// Local and target values of one relocation, with what the patcher must check.
    struct Calculation {
        var local: UInt64 = 0
        /// nil: poison.
        var target: UInt64?
        var validate = true
        var memorySizes: (local: UInt32, target: UInt32) = (0, 0)
        var failsMemorySizeAdjustment = false
    }

    /// `bpf_core_calc_relo`; `target` nil when no candidate matched.
    func calculate(_ kind: COREKind, local localSpec: CORESpec,
                   target: (spec: CORESpec, graph: TargetTypes)?) throws(COREFailure) -> Calculation {
        var result = Calculation()
        if kind.isFieldBased {
            let localField = try fieldValue(kind, spec: localSpec, in: local)
            result.local = localField.value
            result.validate = localField.validate
            var targetField: FieldValue?
            if let target { targetField = try fieldValue(kind, spec: target.spec, in: target.graph) }
            if kind == .fieldExists {
                result.target = targetField == nil ? 0 : 1
                return result
            }
            guard let targetField else { return result }  // poison
            result.target = targetField.value
            result.memorySizes = (localField.size, targetField.size)
            if localField.size != targetField.size, let target {
                // Widening or narrowing a load keeps the value only for pointers and unsigned ints.
                let localType = try local.type(localField.typeID)
                let targetType = try target.graph.type(targetField.typeID)
                let bothPointers = localType?.isPointer == true && targetType?.isPointer == true
                var bothUnsigned = false
                if case .int(_, let localEncoding, _, _)? = localType?.kind, case .int(_, let targetEncoding, _, _)? = targetType?.kind {
                    bothUnsigned = localEncoding != 1 && targetEncoding != 1
                }
                result.failsMemorySizeAdjustment = !(bothPointers || bothUnsigned)
            }
            return result
        }
        if kind.isTypeBased {
            result.validate = kind != .targetTypeID
            result.local = try typeValue(kind, rootID: localSpec.rootTypeID, in: local)
            result.target = 0
            if let target { result.target = try typeValue(kind, rootID: target.spec.rootTypeID, in: target.graph) }
            return result
        }
        // Enum values.
        result.local = try enumValue(kind, spec: localSpec, in: local)
        if let target {
            result.target = try enumValue(kind, spec: target.spec, in: target.graph)
        } else {
            result.target = kind == .enumValueExists ? 0 : nil
        }
        return result
    }

    struct FieldValue {
        var value: UInt64
        var size: UInt32 = 0
        var typeID: UInt32 = 0
        var validate = true
    }

    /// `bpf_core_calc_field_relo` for one side.
    private func fieldValue(_ kind: COREKind, spec: CORESpec, in graph: some CORETypeGraph) throws(COREFailure) -> FieldValue {
        if kind == .fieldExists { return FieldValue(value: 1) }
        guard let accessor = spec.accessors.last else { throw COREFailure("empty access path") }

        if accessor.name == nil {  // an array element, or the root itself
            switch kind {
            case .fieldByteOffset:
                var elementID = try graph.skippingModifiers(accessor.typeID).id
                for _ in 0..<coreMaximumDepth {
                    guard case .array(let element, _, _)? = try graph.type(elementID)?.kind else { break }
                    elementID = try graph.skippingModifiers(element).id
                }
                let size = try graph.size(of: elementID)
                return FieldValue(value: UInt64(spec.bitOffset / 8), size: UInt32(truncatingIfNeeded: size), typeID: accessor.typeID)
            case .fieldByteSize:
                return FieldValue(value: try graph.size(of: accessor.typeID))
            default:
                throw COREFailure("\(kind.name) cannot apply to an array element")
            }
        }

        guard let parent = try graph.type(accessor.typeID), let members = parent.members, accessor.index < members.count else {
            throw COREFailure("accessor does not name a member")
        }
        let member = members[accessor.index]
        let (fieldTypeID, fieldType) = try graph.skippingModifiers(member.typeID)
        let bitOffset = UInt64(spec.bitOffset)
        var bitSize = UInt64(member.bitfieldSize)
        let isBitfield = bitSize > 0
        var byteSize: UInt64
        var byteOffset: UInt64
        if isBitfield {
            switch fieldType?.kind {
            case .int(let size, _, _, _)?, .enumeration(let size, _, _)?, .enumeration64(let size, _, _)?:
                byteSize = UInt64(size)
            default:
                throw COREFailure("bitfield \(member.name) is not an integer or enum")
            }
            guard byteSize > 0 else { throw COREFailure("bitfield \(member.name) has a zero-size type") }
            byteOffset = bitOffset / 8 / byteSize * byteSize
            // The smallest load that holds the whole bitfield.
            while bitOffset + bitSize - byteOffset * 8 > byteSize * 8 {
                guard byteSize < 8 else { throw COREFailure("bitfield \(member.name) cannot be read with one 64-bit load") }
                byteSize *= 2
                byteOffset = bitOffset / 8 / byteSize * byteSize
            }
        } else {
            byteSize = try graph.size(of: fieldTypeID)
            byteOffset = bitOffset / 8
            bitSize = byteSize * 8
        }

        var field = FieldValue(value: 0, validate: !isBitfield)
        switch kind {
        case .fieldByteOffset:
            field.value = byteOffset
            if !isBitfield {
                var elementID = fieldTypeID
                for _ in 0..<coreMaximumDepth {
                    guard case .array(let element, _, _)? = try graph.type(elementID)?.kind else { break }
                    elementID = try graph.skippingModifiers(element).id
                }
                field.size = UInt32(truncatingIfNeeded: try graph.size(of: elementID))
                field.typeID = fieldTypeID
            }
        case .fieldByteSize:
            field.value = byteSize
        case .fieldSigned:
            switch fieldType?.kind {
            case .enumeration(_, let signed, _)?, .enumeration64(_, let signed, _)?: field.value = signed ? 1 : 0
            case .int(_, let encoding, _, _)?: field.value = encoding & 1 != 0 ? 1 : 0
            default: field.value = 0
            }
            field.validate = true
        case .fieldLeftShift:
            field.value = 64 &- (bitOffset + bitSize - byteOffset * 8)
        case .fieldRightShift:
            field.value = 64 &- bitSize
            field.validate = true
        default:
            throw COREFailure("\(kind.name) is not a field relocation")
        }
        return field
    }

    /// `bpf_core_calc_type_relo` for a side that has the type.
    private func typeValue(_ kind: COREKind, rootID: UInt32, in graph: some CORETypeGraph) throws(COREFailure) -> UInt64 {
        switch kind {
        case .targetTypeID: return UInt64(rootID)
        case .typeExists, .typeMatches: return 1
        case .typeSize: return try graph.size(of: rootID)
        default: throw COREFailure("\(kind.name) is not a type relocation")
        }
    }

    /// `bpf_core_calc_enumval_relo` for a side that has the enumerator.
    private func enumValue(_ kind: COREKind, spec: CORESpec, in graph: some CORETypeGraph) throws(COREFailure) -> UInt64 {
        if kind == .enumValueExists { return 1 }
        guard let accessor = spec.accessors.first, let type = try graph.type(accessor.typeID),
              let values = type.enumValues, accessor.index < values.count else {
            throw COREFailure("enumerator index out of range")
        }
        let value = values[accessor.index].value
        // A 32-bit enumerator is an s32 in BTF; libbpf widens it with its sign, whatever the enum's signedness.
        if case .enumeration = type.kind { return UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value))) }
        return UInt64(bitPattern: value)
    }
}
