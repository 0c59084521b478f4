import ELFReader

/// The human view of `inspect`: what the object holds, in the order a loader
/// uses it (programs, maps, relocations, BTF).
enum InspectText {
    static func render(_ object: ObjectSpec, file: String, disassemble: Bool, core: InspectCORE = .none) -> String {
        var out = "\(file): BPF object (ELF64, EM_BPF), license \"\(object.license)\""
        if let version = object.kernelVersion { out += ", kernel version \(version)" }
        out += "\n"

        out += "\nPrograms (\(object.programs.count))\n"
        for program in object.programs {
            out += "  \(program.name)\n"
            out += "    section       \(program.sectionName)\n"
            let programType = InspectDescriptions.programTypeName(program.kind).map { " (\($0))" } ?? ""
            out += "    attach point  \(program.kind.attachPointDescription)\(programType)\n"
            let subprograms = InspectDescriptions.subprograms(of: program)
            var count = "\(program.instructions.count)"
            if !subprograms.isEmpty {
                count += " (\(program.entryLength) in \(program.name), then "
                count += subprograms.map { "\($0.name) at \($0.start)" }.joined(separator: ", ") + ")"
            }
            out += "    instructions  \(count)\n"
            out += "    BTF.ext       \(program.funcInfo.count) func_info, \(program.lineInfo.count) line_info, "
            out += "\(program.coreRelocations.count) CO-RE relocations\n"
        }

        out += "\nMaps (\(object.maps.count))\n"
        var maps = TextTable(headers: ["NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "SOURCE"],
                             rightAligned: [2, 3, 4])
        for map in object.maps {
            var source = map.source.rawValue
            if !map.variables.isEmpty {
                source += ": " + map.variables.map { "\($0.name)@\($0.offset)" }.joined(separator: ", ")
            }
            maps.add([map.name, map.type.description, String(map.keySize), String(map.valueSize),
                      String(map.maxEntries), InspectDescriptions.flagsText(map.flags), source])
        }
        out += maps.render(indent: 2)

        let relocationCount = object.programs.reduce(0) { $0 + $1.relocations.count }
        out += "\nRelocations (\(relocationCount))\n"
        var relocations = TextTable(headers: ["PROGRAM", "INSN", "KIND", "TARGET"], rightAligned: [1])
        for program in object.programs {
            for relocation in program.relocations {
                relocations.add([program.name, String(relocation.instructionIndex),
                                 InspectDescriptions.relocationKind(relocation.target),
                                 InspectDescriptions.relocationTarget(relocation.target, object: object)])
            }
        }
        out += relocations.render(indent: 2)

        let coreRows = core.rows(object)
        if !coreRows.isEmpty {
            out += "\nCO-RE relocations (\(coreRows.count))"
            out += core.targetPath.map { " against \($0)\n" } ?? "\n"
            var headers = ["PROGRAM", "INSN", "CO-RE KIND", "TYPE", "ACCESS", "LOCAL"]
            if core.resolutions != nil { headers.append("TARGET") }
            var table = TextTable(headers: headers, rightAligned: [1, 5, 6])
            for row in coreRows {
                var cells = [row.program, String(row.relocation.instructionIndex), row.relocation.kind.name,
                             row.typeName ?? "?", row.access.map { "\($0) (\(row.relocation.accessString))" }
                                 ?? "\(row.relocation.accessString): \(row.error ?? "invalid")",
                             row.localValue.map(InspectCORE.number) ?? "-"]
                if core.resolutions != nil {
                    cells.append((row.targetValue ?? nil).map(InspectCORE.number) ?? "poisoned")
                }
                table.add(cells)
            }
            out += table.render(indent: 2)
        }

        out += "\nBTF\n"
        if let btf = object.btf {
            let funcInfo = object.programs.reduce(0) { $0 + $1.funcInfo.count }
            let lineInfo = object.programs.reduce(0) { $0 + $1.lineInfo.count }
            out += "  \(btf.types.count) types, \(btf.strings.count)-byte string table, "
            out += "\(funcInfo) func_info, \(lineInfo) line_info\n"
            out += "  " + InspectDescriptions.kindCounts(btf).map { "\($0.kind) \($0.count)" }.joined(separator: ", ") + "\n"
        } else {
            out += "  none (compile with -g to get BTF)\n"
        }

        if disassemble {
            for program in object.programs {
                out += "\nDisassembly of \(program.name) (\(program.sectionName))\n"
                out += ProgramListing(program: program, object: object, coreResolutions: core.resolutions?[program.name]).text
            }
        }
        return out
    }
}
