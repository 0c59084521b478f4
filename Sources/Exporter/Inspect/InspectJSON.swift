import ELFReader

/// The machine view of `inspect --json`. The schema is documented in
/// docs/INSPECT-JSON.md; bump `schema_version` on any incompatible change.
enum InspectJSON {
    static let schemaVersion = 1

    static func render(_ object: ObjectSpec, file: String, disassemble: Bool, core: InspectCORE = .none) -> String {
        value(object, file: file, disassemble: disassemble, core: core).rendered()
    }

    static func value(_ object: ObjectSpec, file: String, disassemble: Bool, core: InspectCORE = .none) -> JSONValue {
        let coreRows: [String: [InspectCORE.Row]] = Dictionary(grouping: core.rows(object), by: { $0.program })
        var relocations: [JSONValue] = []
        for program in object.programs {
            relocations += program.relocations.map { relocation(program: program.name, $0) }
            relocations += (coreRows[program.name] ?? []).map { coreRelocation($0, withTarget: core.resolutions != nil) }
        }
        let programs: [JSONValue] = object.programs.map {
            program(object: object, $0, disassemble: disassemble, core: core.resolutions?[$0.name])
        }
        return .object([
            ("schema_version", .int(schemaVersion)),
            ("file", .string(file)),
            ("license", .string(object.license)),
            ("kernel_version", object.kernelVersion.map { .int($0) } ?? .null),
            ("programs", .array(programs)),
            ("maps", .array(object.maps.map(map))),
            ("relocations", .array(relocations)),
            ("btf", object.btf.map { btf(object: object, $0) } ?? .null),
        ])
    }

    private static func program(object: ObjectSpec, _ program: ProgramSpec, disassemble: Bool,
                                core: [COREResolution]?) -> JSONValue {
        var attach: JSONValue = .null
        var kind = "unknown"
        switch program.kind {
        case .tracepoint(let category, let name):
            kind = "tracepoint"
            attach = .object([("category", .string(category)), ("name", .string(name))])
        case .tracing(let type, let target):
            kind = "tracing"
            attach = .object([("type", .string(type.sectionPrefix)), ("target", .string(target))])
        case .unknown:
            break
        }
        var members: [(String, JSONValue)] = [
            ("name", .string(program.name)),
            ("section", .string(program.sectionName)),
            ("kind", .string(kind)),
            ("attach", attach),
            ("program_type", program.kind.programType.map { .int($0) } ?? .null),
            ("instructions", .int(program.instructions.count)),
            ("entry_instructions", .int(program.entryLength)),
            ("subprograms", .array(InspectDescriptions.subprograms(of: program).map {
                .object([("name", .string($0.name)), ("start", .int($0.start))])
            })),
            ("func_info", .int(program.funcInfo.count)),
            ("line_info", .int(program.lineInfo.count)),
            ("core_relocations", .int(program.coreRelocations.count)),
        ]
        if disassemble {
            let listing = ProgramListing(program: program, object: object, coreResolutions: core)
            members.append(("disassembly", .array(listing.lines.map(listingLine))))
        }
        return .object(members)
    }

    private static func listingLine(_ line: ProgramListing.Line) -> JSONValue {
        switch line {
        case .label(let name):
            return .object([("kind", .string("label")), ("name", .string(name))])
        case .source(let file, let number, let text):
            return .object([("kind", .string("source")), ("file", .string(file)), ("line", .int(number)),
                            ("text", .string(text))])
        case .instruction(let index, let text):
            return .object([("kind", .string("instruction")), ("index", .int(index)), ("text", .string(text))])
        }
    }

    private static func map(_ map: MapSpec) -> JSONValue {
        .object([
            ("name", .string(map.name)),
            ("type", .string(map.type.description)),
            ("type_number", .int(map.type.rawValue)),
            ("key_size", .int(map.keySize)),
            ("value_size", .int(map.valueSize)),
            ("max_entries", .int(map.maxEntries)),
            ("flags", .int(map.flags)),
            ("flag_names", .array(InspectDescriptions.flagNames(map.flags).map { .string($0) })),
            ("source", .string(map.source.rawValue)),
            ("btf_key_type_id", .int(map.btfKeyTypeID)),
            ("btf_value_type_id", .int(map.btfValueTypeID)),
            ("variables", .array(map.variables.map {
                .object([("name", .string($0.name)), ("offset", .int($0.offset)), ("size", .int($0.size))])
            })),
        ])
    }

    private static func relocation(program: String, _ relocation: Relocation) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("program", .string(program)),
            ("instruction", .int(relocation.instructionIndex)),
            ("kind", .string(InspectDescriptions.relocationKind(relocation.target))),
        ]
        switch relocation.target {
        case .map(let name):
            members.append(("target", .string(name)))
        case .mapValue(let mapName, let offset):
            members.append(("target", .string(mapName)))
            members.append(("offset", .int(offset)))
        case .call(let function, let index):
            members.append(("target", .string(function)))
            members.append(("target_instruction", .int(index)))
        }
        return .object(members)
    }

    /// A CO-RE relocation (docs/INSPECT-JSON.md): `target_value` only with `--target-btf`.
    private static func coreRelocation(_ row: InspectCORE.Row, withTarget: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("program", .string(row.program)),
            ("instruction", .int(row.relocation.instructionIndex)),
            ("kind", .string("core")),
            ("core_kind", .string(row.relocation.kind.name)),
            ("type", row.typeName.map { .string($0) } ?? .null),
            ("access_string", .string(row.relocation.accessString)),
            ("access", row.access.map { .string($0) } ?? .null),
            ("local_value", row.localValue.map { .int(Int64(bitPattern: $0)) } ?? .null),
        ]
        if withTarget {
            members.append(("target_value", (row.targetValue ?? nil).map { .int(Int64(bitPattern: $0)) } ?? .null))
        }
        if let error = row.error { members.append(("error", .string(error))) }
        return .object(members)
    }

    private static func btf(object: ObjectSpec, _ btf: BTFSpec) -> JSONValue {
        .object([
            ("types", .int(btf.types.count)),
            ("string_table_bytes", .int(btf.strings.count)),
            ("kinds", .object(InspectDescriptions.kindCounts(btf).map { ($0.kind, .int($0.count)) })),
            ("func_info", .int(object.programs.reduce(0) { $0 + $1.funcInfo.count })),
            ("line_info", .int(object.programs.reduce(0) { $0 + $1.lineInfo.count })),
            ("core_relocations", .int(object.programs.reduce(0) { $0 + $1.coreRelocations.count })),
        ])
    }
}
