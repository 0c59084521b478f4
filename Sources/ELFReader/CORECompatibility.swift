/// When a local type may stand for a target type: the three relations of
/// libbpf's `relo_core.c`, each for a different question.
///
/// - `fieldsAreCompatible`: may a field of this local type be read from that
///   target field? (member matching; loose: any two ints, any two pointers)
/// - `typesAreCompatible`: `type_exists`, `type_size`, `target_type_id`
///   (kinds agree, pointers and arrays recursively, function signatures).
/// - `typesMatch`: `type_matches`, the strict one (every local member exists
///   in the target by name, ints agree in size and sign, enums by names).
///
/// Names are checked by the candidate search for the roots; below the roots
/// only `typesMatch` looks at names. Failures (loops, missing ids) throw,
/// as libbpf's negative returns abort the relocation.
enum CORECompatibility {
    static func fieldsAreCompatible(_ local: some CORETypeGraph, _ localID: UInt32,
                                    _ target: some CORETypeGraph, _ targetID: UInt32) throws(COREFailure) -> Bool {
        var localID = localID, targetID = targetID
        for _ in 0..<coreMaximumDepth {
            let localType = try local.skippingModifiers(localID).type
            let targetType = try target.skippingModifiers(targetID).type
            if localType?.isComposite == true && targetType?.isComposite == true { return true }
            guard coreKindsCompatible(localType, targetType), let localType, let targetType else { return false }
            switch (localType.kind, targetType.kind) {
            case (.pointer, _), (.float, _):
                return true
            case (.forward, _), (.enumeration, _), (.enumeration64, _):
                let localLength = KernelBTF.essentialName(localType.name).utf8.count
                let targetLength = KernelBTF.essentialName(targetType.name).utf8.count
                return localLength == 0 || targetLength == 0 || coreEssentialNamesEqual(localType.name, targetType.name)
            case (.int(_, _, let localBitOffset, _), .int(_, _, let targetBitOffset, _)):
                return localBitOffset == 0 && targetBitOffset == 0
            case (.array(let localElement, _, _), .array(let targetElement, _, _)):
                localID = localElement
                targetID = targetElement
            default:
                return false
            }
        }
        throw COREFailure("field types nest deeper than \(coreMaximumDepth)")
    }

    static func typesAreCompatible(_ local: some CORETypeGraph, _ localID: UInt32,
                                   _ target: some CORETypeGraph, _ targetID: UInt32,
                                   level: Int = coreMaximumDepth) throws(COREFailure) -> Bool {
        guard coreKindsCompatible(try local.type(localID), try target.type(targetID)) else { return false }
        var localID = localID, targetID = targetID
        for _ in 0..<coreMaximumDepth {
            let localType = try local.skippingModifiers(localID).type
            let targetType = try target.skippingModifiers(targetID).type
            guard coreKindsCompatible(localType, targetType) else { return false }
            guard let localType, let targetType else { return true }  // void and void
            switch (localType.kind, targetType.kind) {
            case (.structure, _), (.union, _), (.enumeration, _), (.enumeration64, _), (.forward, _):
                return true
            case (.int(_, _, let localBitOffset, _), .int(_, _, let targetBitOffset, _)):
                return localBitOffset == 0 && targetBitOffset == 0
            case (.pointer(let localPointee), .pointer(let targetPointee)):
                localID = localPointee
                targetID = targetPointee
            case (.array(let localElement, _, _), .array(let targetElement, _, _)):
                localID = localElement
                targetID = targetElement
            case (.functionProto(let localReturn, let localParameters), .functionProto(let targetReturn, let targetParameters)):
                guard localParameters.count == targetParameters.count else { return false }
                for (localParameter, targetParameter) in zip(localParameters, targetParameters) {
                    guard level > 0 else { throw COREFailure("function prototypes nest deeper than \(coreMaximumDepth)") }
                    let localParameterID = try local.skippingModifiers(localParameter.typeID).id
                    let targetParameterID = try target.skippingModifiers(targetParameter.typeID).id
                    guard try typesAreCompatible(local, localParameterID, target, targetParameterID, level: level - 1) else {
                        return false
                    }
                }
                localID = try local.skippingModifiers(localReturn).id
                targetID = try target.skippingModifiers(targetReturn).id
            default:
                return false
            }
        }
        throw COREFailure("types nest deeper than \(coreMaximumDepth)")
    }

    /// libbpf's `bpf_core_names_match`: an anonymous target matches only an anonymous local.
    private static func namesMatch(_ local: String, _ target: String) -> Bool {
        if target.isEmpty { return local.isEmpty }
        return coreEssentialNamesEqual(local, target)
    }

    static func typesMatch(_ local: some CORETypeGraph, _ localID: UInt32,
                           _ target: some CORETypeGraph, _ targetID: UInt32,
                           behindPointer: Bool = false, level: Int = coreMaximumDepth) throws(COREFailure) -> Bool {
        guard level > 0 else { throw COREFailure("types nest deeper than \(coreMaximumDepth)") }
        var localID = localID, targetID = targetID, behindPointer = behindPointer
        for _ in 0..<coreMaximumDepth {
            let localType = try local.skippingModifiers(localID).type
            let targetType = try target.skippingModifiers(targetID).type
            guard namesMatch(localType?.name ?? "", targetType?.name ?? "") else { return false }
            guard let localType else { return targetType == nil }
            guard let targetType else { return false }
            switch localType.kind {
            case .forward(let localIsUnion):
                if case .forward(let targetIsUnion) = targetType.kind { return localIsUnion == targetIsUnion }
                guard behindPointer else { return false }
                if case .structure = targetType.kind { return !localIsUnion }
                if case .union = targetType.kind { return localIsUnion }
                return false
            case .enumeration(let localSize, _, let localValues), .enumeration64(let localSize, _, let localValues):
                guard let targetValues = targetType.enumValues else { return false }
                let targetSize: UInt32
                switch targetType.kind {
                case .enumeration(let size, _, _), .enumeration64(let size, _, _): targetSize = size
                default: return false
                }
                guard localSize == targetSize, localValues.count <= targetValues.count else { return false }
                return localValues.allSatisfy { value in targetValues.contains { namesMatch(value.name, $0.name) } }
            case .structure, .union:
                let sameKind = localType.kind.number == targetType.kind.number
                if behindPointer {
                    if sameKind { return true }
                    guard case .forward(let targetIsUnion) = targetType.kind else { return false }
                    return (localType.kind.number == 5) == targetIsUnion
                }
                guard sameKind, let localMembers = localType.members, let targetMembers = targetType.members,
                      localMembers.count <= targetMembers.count else { return false }
                for localMember in localMembers {
                    var matched = false
                    for targetMember in targetMembers where namesMatch(localMember.name, targetMember.name) {
                        if try typesMatch(local, localMember.typeID, target, targetMember.typeID,
                                          behindPointer: behindPointer, level: level - 1) {
                            matched = true
                            break
                        }
                    }
                    guard matched else { return false }
                }
                return true
            case .int(let localSize, let localEncoding, _, _):
                guard case .int(let targetSize, let targetEncoding, _, _) = targetType.kind else { return false }
                return localSize == targetSize && (localEncoding & 1) == (targetEncoding & 1)
            case .pointer(let localPointee):
                guard case .pointer(let targetPointee) = targetType.kind else { return false }
                behindPointer = true
                localID = localPointee
                targetID = targetPointee
            case .array(let localElement, _, let localCount):
                guard case .array(let targetElement, _, let targetCount) = targetType.kind,
                      localCount == targetCount else { return false }
                localID = localElement
                targetID = targetElement
            case .functionProto(let localReturn, let localParameters):
                guard case .functionProto(let targetReturn, let targetParameters) = targetType.kind,
                      localParameters.count == targetParameters.count else { return false }
                for (localParameter, targetParameter) in zip(localParameters, targetParameters) {
                    guard try typesMatch(local, localParameter.typeID, target, targetParameter.typeID,
                                         behindPointer: behindPointer, level: level - 1) else { return false }
                }
                localID = localReturn
                targetID = targetReturn
            default:
                return false
            }
        }
        throw COREFailure("types nest deeper than \(coreMaximumDepth)")
    }
}
