import ELFReader

/// The CO-RE part of `inspect`: each relocation as the object states it, and,
/// with `--target-btf`, what it resolves to on that kernel.
struct InspectCORE {
    /// The `--target-btf` path, when one was given.
    var targetPath: String?
    /// By program name; nil without `--target-btf`.
    var resolutions: [String: [COREResolution]]?

    static let none = InspectCORE(targetPath: nil, resolutions: nil)

    /// One row of the view: from the resolution when resolved, else from the object alone.
    struct Row {
        var program: String
        var relocation: CORERelocation
        var typeName: String?
        var access: String?
        var localValue: UInt64?
        /// Only with a target: .some(nil) is poisoned.
        var targetValue: UInt64??
        var error: String?
    }

    func rows(_ object: ObjectSpec) -> [Row] {
        var rows: [Row] = []
        for program in object.programs {
            if let resolved = resolutions?[program.name] {
                for resolution in resolved {
                    rows.append(Row(program: program.name, relocation: resolution.relocation, typeName: resolution.typeName,
                                    access: resolution.access, localValue: resolution.localValue,
                                    targetValue: .some(resolution.targetValue)))
                }
                continue
            }
            for relocation in program.coreRelocations {
                var row = Row(program: program.name, relocation: relocation)
                if let btf = object.btf {
                    do {
                        let description = try CORERelocator.describe(relocation, objectBTF: btf, program: program.name)
                        row.typeName = description.typeName
                        row.access = description.access
                        row.localValue = description.localValue
                    } catch {
                        row.error = error.reason
                    }
                } else {
                    row.error = "the object has no .BTF section"
                }
                rows.append(row)
            }
        }
        return rows
    }

    /// `40`, or `-5` for a sign-extended enumerator (what the instruction holds).
    static func number(_ value: UInt64) -> String { String(Int64(bitPattern: value)) }
}
