import Foundation
import Testing
@testable import ELFReader

/// The reader's sections, symbols, relocations and instructions, compared with
/// what LLVM's own tools read from the same fixtures.
@Suite struct LLVMCrossCheckTests {
    static let readelf = ExternalTool.find("llvm-readelf", "llvm-readelf-14")
    static let objdump = ExternalTool.find("llvm-objdump", "llvm-objdump-14")

    /// `llvm-readelf --elf-output-style=JSON ...`, unwrapped to the file's object.
    private func readelfJSON(_ fixture: Fixture, _ option: String) throws -> [String: Any] {
        let tool = try #require(Self.readelf)
        let output = try tool.run(["--elf-output-style=JSON", option, fixture.path])
        #expect(output.status == 0, "\(output.stderr)")
        let top = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        return try #require(top.first?.values.first as? [String: Any])
    }

    @Test(.enabled(if: readelf != nil, "llvm-readelf not installed"), arguments: Fixture.allCases)
    func sectionHeadersAgree(_ fixture: Fixture) throws {
        let spec = try fixture.spec()
        let json = try readelfJSON(fixture, "--section-headers")
        let sections = try #require(json["Sections"] as? [[String: Any]]).compactMap { $0["Section"] as? [String: Any] }
        #expect(sections.count == spec.sections.count)
        for (theirs, ours) in zip(sections, spec.sections) {
            let name = (theirs["Name"] as? [String: Any])?["Value"] as? String
            let type = (theirs["Type"] as? [String: Any])?["RawValue"] as? Int
            let flags = (theirs["Flags"] as? [String: Any])?["RawFlags"] as? Int
            #expect(theirs["Index"] as? Int == ours.index)
            #expect(name == ours.name)
            #expect(type == Int(ours.type), "\(ours.name)")
            #expect(flags == Int(ours.flags), "\(ours.name)")
            #expect(theirs["Offset"] as? Int == Int(ours.offset), "\(ours.name)")
            #expect(theirs["Size"] as? Int == Int(ours.size), "\(ours.name)")
            #expect(theirs["Link"] as? Int == Int(ours.link), "\(ours.name)")
            #expect(theirs["Info"] as? Int == Int(ours.info), "\(ours.name)")
            #expect(theirs["AddressAlignment"] as? Int == Int(ours.alignment), "\(ours.name)")
            #expect(theirs["EntrySize"] as? Int == Int(ours.entrySize), "\(ours.name)")
        }
    }

    @Test(.enabled(if: readelf != nil, "llvm-readelf not installed"), arguments: Fixture.allCases)
    func symbolsAgree(_ fixture: Fixture) throws {
        let spec = try fixture.spec()
        let json = try readelfJSON(fixture, "--symbols")
        let symbols = try #require(json["Symbols"] as? [[String: Any]]).compactMap { $0["Symbol"] as? [String: Any] }
        // llvm lists the null symbol 0; the spec leaves it out.
        #expect(symbols.count == spec.symbols.count + 1)
        for (theirs, ours) in zip(symbols.dropFirst(), spec.symbols) {
            let name = theirs["Name"] as? [String: Any]
            // For section symbols llvm shows the section's name; the table itself has "".
            if name?["RawValue"] as? Int == 0 {
                #expect(ours.name == "")
            } else {
                #expect(name?["Value"] as? String == ours.name)
            }
            #expect(theirs["Value"] as? Int == Int(ours.value), "\(ours.name)")
            #expect(theirs["Size"] as? Int == Int(ours.size), "\(ours.name)")
            #expect((theirs["Binding"] as? [String: Any])?["RawValue"] as? Int == Int(ours.binding), "\(ours.name)")
            #expect((theirs["Type"] as? [String: Any])?["RawValue"] as? Int == Int(ours.type), "\(ours.name)")
            #expect((theirs["Section"] as? [String: Any])?["RawValue"] as? Int == Int(ours.sectionIndex), "\(ours.name)")
        }
    }

    /// `llvm-readelf -r` (GNU style): per REL section, (offset, info) pairs.
    private func readelfRelocations(_ fixture: Fixture) throws -> [String: [(offset: UInt64, info: UInt64)]] {
        let tool = try #require(Self.readelf)
        let output = try tool.run(["--relocations", fixture.path])
        var result: [String: [(UInt64, UInt64)]] = [:]
        var current: String?
        for line in output.stdout.split(separator: "\n") {
            if line.hasPrefix("Relocation section '") {
                let name = line.dropFirst("Relocation section '".count).prefix { $0 != "'" }
                current = String(name)
                result[String(name)] = []
                continue
            }
            let fields = line.split(separator: " ")
            guard let current, fields.count >= 3, fields[0].count == 16,
                  let offset = UInt64(fields[0], radix: 16), let info = UInt64(fields[1], radix: 16) else { continue }
            result[current, default: []].append((offset, info))
        }
        return result
    }

    @Test(.enabled(if: readelf != nil, "llvm-readelf not installed"), arguments: Fixture.allCases)
    func relocationTablesAgree(_ fixture: Fixture) throws {
        let elf = try ELFFile(try fixture.bytes())
        let theirs = try readelfRelocations(fixture)
        let relSections = elf.sections.filter { $0.type == ELF.sectionRel }
        #expect(Set(theirs.keys) == Set(relSections.map(\.name)))
        for section in relSections {
            let ours = try RelocationTable.entries(of: section, in: elf)
            let expected = theirs[section.name] ?? []
            #expect(ours.count == expected.count, "\(section.name)")
            for (entry, (offset, info)) in zip(ours, expected) {
                #expect(entry.offset == offset, "\(section.name)")
                #expect(UInt64(entry.symbolIndex) << 32 | UInt64(entry.type) == info, "\(section.name)")
            }
        }
    }

    /// `llvm-objdump -d`: per section, (slot, text) with `<label>` suffixes removed.
    private func objdumpInstructions(_ fixture: Fixture) throws -> [String: [(slot: Int, text: String)]] {
        let tool = try #require(Self.objdump)
        let output = try tool.run(["-d", "--no-show-raw-insn", fixture.path])
        #expect(output.status == 0, "\(output.stderr)")
        var result: [String: [(Int, String)]] = [:]
        var current: String?
        for line in output.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Disassembly of section ") {
                current = String(line.dropFirst("Disassembly of section ".count).dropLast())
                continue
            }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard let current, parts.count == 2, line.hasPrefix(" "),
                  let slot = Int(parts[0].trimmingCharacters(in: .whitespaces)) else { continue }
            var text = parts[1].trimmingCharacters(in: .whitespaces)
            if text.hasSuffix(">"), let label = text.range(of: " <", options: .backwards) {
                text = String(text[..<label.lowerBound])
            }
            result[current, default: []].append((slot, text))
        }
        return result
    }

    @Test(.enabled(if: objdump != nil, "llvm-objdump not installed"), arguments: Fixture.allCases)
    func everyInstructionDisassemblesAsLLVMDoes(_ fixture: Fixture) throws {
        let elf = try ELFFile(try fixture.bytes())
        let theirs = try objdumpInstructions(fixture)
        for section in elf.sections where section.isExecutable && section.size > 0 {
            let instructions = try Instruction.decodeAll(try elf.contents(of: section), section: section.name)
            var ours: [(Int, String)] = []
            var slot = 0
            while slot < instructions.count {
                let next = slot + 1 < instructions.count ? instructions[slot + 1] : nil
                ours.append((slot, Disassembler.format(instructions[slot], next: next)))
                slot += Disassembler.slotCount(instructions[slot])
            }
            let expected = theirs[section.name] ?? []
            #expect(ours.count == expected.count, "\(section.name)")
            for ((ourSlot, ourText), (theirSlot, theirText)) in zip(ours, expected) {
                #expect(ourSlot == theirSlot, "\(section.name)")
                #expect(ourText == theirText, "\(section.name) slot \(theirSlot)")
            }
            // The last instruction llvm shows ends exactly where the section does.
            if let last = expected.last {
                #expect(last.slot + (last.text.hasSuffix(" ll") ? 2 : 1) == instructions.count, "\(section.name)")
            }
        }
    }

    /// Each program's entry part is its function symbol's bytes, and each
    /// ld_imm64 in it reads as llvm-objdump prints it.
    @Test(.enabled(if: objdump != nil, "llvm-objdump not installed"), arguments: Fixture.allCases)
    func programsMatchTheirFunctionsAndLoads(_ fixture: Fixture) throws {
        let spec = try fixture.spec()
        let theirs = try objdumpInstructions(fixture)
        for program in spec.programs {
            let symbol = try #require(spec.symbols.first { $0.name == program.name && $0.type == ELF.symbolFunction })
            #expect(program.entryLength * 8 == Int(symbol.size), "\(program.name)")
            let start = Int(symbol.value / 8)
            let listed = (theirs[program.sectionName] ?? []).filter { $0.slot >= start && $0.slot < start + program.entryLength }
            let loads = listed.filter { $0.text.hasSuffix(" ll") }
            var ourLoads: [String] = []
            for index in 0..<program.entryLength where program.instructions[index].isLoadImmediate64 {
                ourLoads.append(Disassembler.format(program.instructions[index], next: program.instructions[index + 1]))
            }
            #expect(ourLoads == loads.map(\.text), "\(program.name)")
            // Subprograms add exactly their symbols' sizes.
            let subprogramSlots = InspectSubprograms.of(program).reduce(0) { total, name in
                total + Int((spec.symbols.first { $0.name == name && $0.type == ELF.symbolFunction }?.size ?? 0) / 8)
            }
            #expect(program.instructions.count == program.entryLength + subprogramSlots, "\(program.name)")
        }
    }

    /// Program relocations in the entry part sit exactly where llvm-objdump -r
    /// puts the relocations of that section, against the same symbols.
    @Test(.enabled(if: objdump != nil, "llvm-objdump not installed"), arguments: Fixture.allCases)
    func programRelocationsMatchObjdump(_ fixture: Fixture) throws {
        let spec = try fixture.spec()
        let tool = try #require(Self.objdump)
        let output = try tool.run(["-r", fixture.path])
        var bySection: [String: [(offset: UInt64, type: String, symbol: String)]] = [:]
        var current: String?
        for line in output.stdout.split(separator: "\n") {
            if line.hasPrefix("RELOCATION RECORDS FOR [") {
                current = String(line.dropFirst("RELOCATION RECORDS FOR [".count).dropLast(2))
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let current, fields.count == 3, let offset = UInt64(fields[0], radix: 16) else { continue }
            bySection[current, default: []].append((offset, String(fields[1]), String(fields[2])))
        }
        for program in spec.programs {
            let symbol = try #require(spec.symbols.first { $0.name == program.name && $0.type == ELF.symbolFunction })
            let range = symbol.value..<(symbol.value + symbol.size)
            let expected = (bySection[program.sectionName] ?? []).filter { range.contains($0.offset) }
            let ours = program.relocations.filter { $0.instructionIndex < program.entryLength }
            #expect(ours.count == expected.count, "\(program.name)")
            for (relocation, theirs) in zip(ours, expected) {
                #expect(UInt64(relocation.instructionIndex * 8) + symbol.value == theirs.offset, "\(program.name)")
                switch relocation.target {
                case .map(let name):
                    #expect(theirs.type == "R_BPF_64_64")
                    #expect(name == theirs.symbol)
                case .mapValue(let mapName, let offset):
                    #expect(theirs.type == "R_BPF_64_64")
                    let variable = spec.map(named: mapName)?.variables.first { $0.offset == offset }
                    #expect(variable?.name == theirs.symbol || mapName == theirs.symbol)
                case .call(let function, _):
                    #expect(theirs.type == "R_BPF_64_32")
                    // Against a function symbol, or the section symbol of `.text` (static callee).
                    #expect(function == theirs.symbol || theirs.symbol == ".text")
                }
            }
        }
    }
}

/// Names of the subprograms linked into a program, from its call relocations.
enum InspectSubprograms {
    static func of(_ program: ProgramSpec) -> [String] {
        var names: [String] = []
        for relocation in program.relocations {
            if case .call(let name, _) = relocation.target, !names.contains(name) { names.append(name) }
        }
        return names
    }
}
