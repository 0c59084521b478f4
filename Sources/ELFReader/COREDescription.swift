/// What a CO-RE relocation says in the object alone, before any target:
/// for teaching views (`inspect`) and error messages.
public struct COREDescription: Sendable, Equatable {
    /// The local root type in C terms: `struct sock`.
    public var typeName: String
    /// The access path in C terms: `sock.__sk_common.skc_net`.
    public var access: String
    /// The value compiled into the instruction.
    public var localValue: UInt64

    public init(typeName: String, access: String, localValue: UInt64) {
        self.typeName = typeName
        self.access = access
        self.localValue = localValue
    }
}

extension CORERelocator {
    /// The relocation read against the object's own BTF; throws when the
    /// record does not fit that BTF (a malformed object).
    public static func describe(_ relocation: CORERelocation, objectBTF: BTFSpec,
                                program: String) throws(CORERelocationError) -> COREDescription {
        let local = LocalTypes(spec: objectBTF)
        let rootType = try? local.type(relocation.localTypeID)
        do throws(COREFailure) {
            let spec = try CORESpecParser.parse(relocation, in: local)
            let access = spec.access(rootName: rootType?.name ?? "")
            let relocator = CORERelocator(local: local, targets: [])
            let value = relocation.kind == .localTypeID
                ? UInt64(relocation.localTypeID)
                : try relocator.calculate(relocation.kind, local: spec, target: nil).local
            return COREDescription(typeName: rootType?.cName ?? "void", access: access, localValue: value)
        } catch {
            throw CORERelocationError(program: program, instruction: relocation.instructionIndex, kind: relocation.kind,
                                      access: relocation.accessString, reason: error.reason)
        }
    }
}
