/// Maps defined the modern way, in the `.maps` section:
///
///     struct {
///         __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);   // int (*type)[6]
///         __uint(max_entries, 2);                    // int (*max_entries)[2]
///         __type(key, __u32);                        // __u32 *key
///         __type(value, __u64);                      // __u64 *value
///     } stats SEC(".maps");
///
/// The section's bytes are all zero: the numbers exist only in BTF, as the
/// element counts of the arrays the `__uint` pointers point to. So the map
/// list is: DATASEC `.maps` -> each VAR -> its STRUCT -> each member.
enum BTFMapDefinitions {
    static let sectionName = ".maps"

    static func read(btf: BTFSpec, resolver: BTFTypeResolver) throws(ObjectReadError) -> [MapSpec] {
        guard let dataSection = btf.types.first(where: { $0.name == sectionName }),
              case .dataSection(_, let variables) = dataSection.kind else {
            throw resolver.error("the object has a `.maps` section but its BTF has no `.maps` DATASEC", typeID: 0)
        }
        var maps: [MapSpec] = []
        for variable in variables {
            let variableType = try resolver.type(variable.typeID)
            guard case .variable(let definitionTypeID, _) = variableType.kind else {
                throw resolver.error("`.maps` entry is a \(variableType.kind.name), expected a VAR", typeID: variable.typeID)
            }
            maps.append(try map(named: variableType.name, definitionTypeID: definitionTypeID, resolver: resolver))
        }
        return maps
    }

    private static func map(named name: String, definitionTypeID: UInt32,
                             resolver: BTFTypeResolver) throws(ObjectReadError) -> MapSpec {
        let definition = try resolver.skippingQualifiers(definitionTypeID)
        guard case .structure(_, let members) = definition.kind else {
            throw resolver.error("map \(name): definition is a \(definition.kind.name), expected a STRUCT", typeID: definition.id)
        }
        var spec = MapSpec(name: name, type: MapType(rawValue: 0), keySize: 0, valueSize: 0, maxEntries: 0,
                           flags: 0, source: .btf)
        var sawType = false
        for member in members {
            switch member.name {
            case "type":
                spec.type = MapType(rawValue: try unsignedAttribute(member, map: name, resolver: resolver))
                sawType = true
            case "key_size":
                try setSize(&spec.keySize, to: try unsignedAttribute(member, map: name, resolver: resolver), what: "key", map: name, resolver: resolver, typeID: member.typeID)
            case "value_size":
                try setSize(&spec.valueSize, to: try unsignedAttribute(member, map: name, resolver: resolver), what: "value", map: name, resolver: resolver, typeID: member.typeID)
            case "max_entries":
                spec.maxEntries = try unsignedAttribute(member, map: name, resolver: resolver)
            case "map_flags":
                spec.flags = try unsignedAttribute(member, map: name, resolver: resolver)
            case "key":
                let (typeID, size) = try typeAttribute(member, map: name, resolver: resolver)
                spec.btfKeyTypeID = typeID
                try setSize(&spec.keySize, to: size, what: "key", map: name, resolver: resolver, typeID: member.typeID)
            case "value":
                let (typeID, size) = try typeAttribute(member, map: name, resolver: resolver)
                spec.btfValueTypeID = typeID
                try setSize(&spec.valueSize, to: size, what: "value", map: name, resolver: resolver, typeID: member.typeID)
            default:
                // pinning, numa_node, map_extra, values (map-in-map): not used by
                // this project; ignored rather than refused, as libbpf does.
                continue
            }
        }
        guard sawType else {
            throw resolver.error("map \(name): no `type` member", typeID: definition.id)
        }
        return spec
    }

    /// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N ints.
    private static func unsignedAttribute(_ member: BTFMember, map: String,
                                          resolver: BTFTypeResolver) throws(ObjectReadError) -> UInt32 {
        let pointer = try resolver.skippingQualifiers(member.typeID)
        guard case .pointer(let arrayID) = pointer.kind else {
            throw resolver.error("map \(map): member \(member.name) is a \(pointer.kind.name), expected a pointer (__uint)", typeID: member.typeID)
        }
        let array = try resolver.type(arrayID)
        guard case .array(_, _, let count) = array.kind else {
            throw resolver.error("map \(map): member \(member.name) points to a \(array.kind.name), expected an array (__uint)", typeID: arrayID)
        }
        return count
    }

    /// `__type(name, T)` is `T *name`: the pointee is the type, its size the size.
    private static func typeAttribute(_ member: BTFMember, map: String,
                                      resolver: BTFTypeResolver) throws(ObjectReadError) -> (typeID: UInt32, size: UInt32) {
        let pointer = try resolver.skippingQualifiers(member.typeID)
        guard case .pointer(let targetID) = pointer.kind else {
            throw resolver.error("map \(map): member \(member.name) is a \(pointer.kind.name), expected a pointer (__type)", typeID: member.typeID)
        }
        let size = try resolver.size(of: targetID)
        guard let size32 = UInt32(exactly: size) else {
            throw resolver.error("map \(map): \(member.name) size \(size) does not fit 32 bits", typeID: targetID)
        }
        return (targetID, size32)
    }

    /// Both `key_size` and `key` may be given; they must agree.
    private static func setSize(_ field: inout UInt32, to size: UInt32, what: String, map: String,
                                resolver: BTFTypeResolver, typeID: UInt32) throws(ObjectReadError) {
        guard field == 0 || field == size else {
            throw resolver.error("map \(map): \(what) size given twice, as \(field) and \(size)", typeID: typeID)
        }
        field = size
    }
}
