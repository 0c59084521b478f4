/// Builds one `ProgramSpec` per entry point.
///
/// Every global function in an executable section other than `.text` is an
/// entry point; its section name says what it attaches to. Functions in
/// `.text` (and static functions) are subprograms: the kernel needs each
/// program as one flat instruction array, so every function a program calls,
/// directly or through other calls, is appended after it, once, and each
/// call's `imm` is rewritten to the callee's new position:
/// `imm = calleeStart - (callIndex + 1)`.
struct ProgramLinker {
    /// A function body: a run of slots in one executable section.
    struct Function {
        let name: String
        let sectionIndex: Int
        /// First slot in the section.
        let start: Int
        let count: Int
        let isEntryPoint: Bool
    }

    /// An executable section, decoded.
    struct CodeSection {
        let header: SectionHeader
        let instructions: [Instruction]
        /// Sorted by start.
        let functions: [Function]
        /// Relocations by the slot they patch.
        let relocations: [Int: RawRelocation]

        func function(startingAt slot: Int) -> Function? { functions.first { $0.start == slot } }
    }

    let elf: ELFFile
    let symbols: [Symbol]
    let codeSections: [Int: CodeSection]
    let lineAndFuncInfo: [String: BTFExtParser.SectionRecords]

    init(elf: ELFFile, symbols: [Symbol], relocations: [Int: [RawRelocation]],
         lineAndFuncInfo: [String: BTFExtParser.SectionRecords]) throws(ObjectReadError) {
        self.elf = elf
        self.symbols = symbols
        self.lineAndFuncInfo = lineAndFuncInfo
        var codeSections: [Int: CodeSection] = [:]
        for header in elf.sections where header.isExecutable && header.type == ELF.sectionProgBits {
            let instructions = try Instruction.decodeAll(try elf.contents(of: header), section: header.displayName)
            let functions = try Self.functions(in: header, instructionCount: instructions.count, symbols: symbols)
            var bySlot: [Int: RawRelocation] = [:]
            for relocation in relocations[header.index] ?? [] {
                guard relocation.offset % 8 == 0, let slot = Int(exactly: relocation.offset / 8), slot < instructions.count else {
                    throw ObjectReadError(section: header.displayName, offset: relocation.offset,
                                          reason: "relocation offset \(relocation.offset) is not an instruction in this section")
                }
                guard bySlot[slot] == nil else {
                    throw ObjectReadError(section: header.displayName, offset: relocation.offset,
                                          reason: "two relocations for instruction \(slot)")
                }
                bySlot[slot] = relocation
            }
            codeSections[header.index] = CodeSection(header: header, instructions: instructions,
                                                     functions: functions, relocations: bySlot)
        }
        self.codeSections = codeSections
    }

    /// Every program, in section order, then in order within a section.
    func programs() throws(ObjectReadError) -> [ProgramSpec] {
        var programs: [ProgramSpec] = []
        for index in codeSections.keys.sorted() {
            guard let section = codeSections[index] else { continue }
            for function in section.functions where function.isEntryPoint {
                programs.append(try link(entry: function, in: section))
            }
        }
        return programs
    }

    /// The function symbols of a section, with their extent in slots.
    private static func functions(in section: SectionHeader, instructionCount: Int,
                                  symbols: [Symbol]) throws(ObjectReadError) -> [Function] {
        let functionSymbols = symbols
            .filter { Int($0.sectionIndex) == section.index && $0.isFunction }
            .sorted { $0.value < $1.value }
        var functions: [Function] = []
        for (position, symbol) in functionSymbols.enumerated() {
            guard symbol.value % 8 == 0, symbol.size % 8 == 0,
                  let start = Int(exactly: symbol.value / 8), let declared = Int(exactly: symbol.size / 8),
                  start <= instructionCount, declared <= instructionCount - start else {
                throw ObjectReadError(section: section.displayName, offset: symbol.value,
                                      reason: "function \(symbol.name) (offset \(symbol.value), \(symbol.size) bytes) is not a run of instructions in this section")
            }
            // A size of 0 means "unknown": the function runs to the next one.
            var count = declared
            if count == 0 {
                let next = functionSymbols[(position + 1)...].first { $0.value > symbol.value }
                count = (next.flatMap { Int(exactly: $0.value / 8) } ?? instructionCount) - start
            }
            guard count > 0 else { continue }
            functions.append(Function(name: symbol.name, sectionIndex: section.index, start: start, count: count,
                                      isEntryPoint: symbol.isGlobal && section.name != ".text"))
        }
        return functions
    }

    /// Lays out `entry` then every function it reaches, fixing calls and
    /// collecting relocations and `.BTF.ext` records as it goes.
    private func link(entry: Function, in entrySection: CodeSection) throws(ObjectReadError) -> ProgramSpec {
        let programName = "program \(entry.name)"
        var layout: [(function: Function, start: Int)] = [(entry, 0)]
        var instructions = Array(entrySection.instructions[entry.start..<entry.start + entry.count])
        var relocations: [Relocation] = []

        var next = 0
        while next < layout.count {
            let (function, start) = layout[next]
            next += 1
            guard let section = codeSections[function.sectionIndex] else { continue }
            var slot = 0
            while slot < function.count {
                let sectionSlot = function.start + slot
                let programSlot = start + slot
                let instruction = section.instructions[sectionSlot]
                func fail(_ reason: String) -> ObjectReadError {
                    ObjectReadError(section: section.header.displayName, offset: UInt64(sectionSlot * 8),
                                    reason: "\(programName): instruction \(programSlot): \(reason)")
                }

                var callTarget: (section: CodeSection, slot: Int)?
                if let raw = section.relocations[sectionSlot] {
                    switch try classify(raw, instruction: instruction, fail: fail) {
                    case .data(let target):
                        relocations.append(Relocation(instructionIndex: programSlot, target: target))
                    case .call(let targetSectionIndex, let targetSlot):
                        guard let targetSection = codeSections[targetSectionIndex] else {
                            throw fail("call target is not in an executable section")
                        }
                        callTarget = (targetSection, targetSlot)
                    }
                } else if instruction.isFunctionCall {
                    // A call within one section needs no relocation: imm is already relative.
                    callTarget = (section, sectionSlot + Int(instruction.imm) + 1)
                }

                if let (targetSection, targetSlot) = callTarget {
                    guard let callee = targetSection.function(startingAt: targetSlot) else {
                        throw fail("call to instruction \(targetSlot) of \(targetSection.header.displayName), which does not start a function")
                    }
                    let calleeStart: Int
                    if let placed = layout.first(where: { $0.function.sectionIndex == callee.sectionIndex && $0.function.start == callee.start }) {
                        calleeStart = placed.start
                    } else {
                        calleeStart = instructions.count
                        layout.append((callee, calleeStart))
                        instructions += targetSection.instructions[callee.start..<callee.start + callee.count]
                    }
                    guard let relative = Int32(exactly: calleeStart - (programSlot + 1)) else {
                        throw fail("call distance does not fit 32 bits")
                    }
                    instructions[programSlot].imm = relative
                    relocations.append(Relocation(instructionIndex: programSlot,
                                                  target: .call(function: callee.name, targetIndex: calleeStart)))
                }

                if instruction.isLoadImmediate64 {
                    guard slot + 1 < function.count else { throw fail("ld_imm64 is missing its second slot") }
                    slot += 2
                } else {
                    slot += 1
                }
            }
        }

        var funcInfo: [FuncInfo] = []
        var lineInfo: [LineInfo] = []
        for (function, start) in layout {
            guard let section = codeSections[function.sectionIndex],
                  let records = lineAndFuncInfo[section.header.name] else { continue }
            for record in records.funcInfo {
                if let slot = try programSlot(record.instructionOffset, function: function, start: start, section: section) {
                    funcInfo.append(FuncInfo(instructionOffset: slot, typeID: record.typeID))
                }
            }
            for record in records.lineInfo {
                if let slot = try programSlot(record.instructionOffset, function: function, start: start, section: section) {
                    var moved = record
                    moved.instructionOffset = slot
                    lineInfo.append(moved)
                }
            }
        }
        funcInfo.sort { $0.instructionOffset < $1.instructionOffset }
        lineInfo.sort { $0.instructionOffset < $1.instructionOffset }

        return ProgramSpec(name: entry.name, sectionName: entrySection.header.name,
                           kind: ProgramKind(sectionName: entrySection.header.name),
                           instructions: instructions, entryLength: entry.count, relocations: relocations,
                           funcInfo: funcInfo, lineInfo: lineInfo)
    }

    /// Converts a `.BTF.ext` byte offset in the section to a slot in the
    /// program, or nil when the record belongs to another function.
    private func programSlot(_ byteOffset: UInt32, function: Function, start: Int,
                             section: CodeSection) throws(ObjectReadError) -> UInt32? {
        let sectionSlot = Int(byteOffset / 8)
        guard sectionSlot >= function.start, sectionSlot < function.start + function.count else { return nil }
        guard byteOffset % 8 == 0 else {
            throw ObjectReadError(section: BTFExtParser.section, offset: 0,
                                  reason: "record for \(section.header.displayName) at byte \(byteOffset) is not on an instruction boundary")
        }
        return UInt32(exactly: start + sectionSlot - function.start)
    }

    private enum ClassifiedRelocation {
        case data(RelocationTarget)
        case call(sectionIndex: Int, slot: Int)
    }

    /// What a relocation of a program instruction refers to.
    private func classify(_ raw: RawRelocation, instruction: Instruction,
                          fail: (String) -> ObjectReadError) throws(ObjectReadError) -> ClassifiedRelocation {
        guard raw.symbolIndex > 0, raw.symbolIndex <= symbols.count else {
            throw fail("relocation names symbol \(raw.symbolIndex), which does not exist")
        }
        let symbol = symbols[raw.symbolIndex - 1]
        let symbolName = symbol.isSectionSymbol ? "section symbol \(symbol.index)" : symbol.name
        guard let targetSection = elf.section(at: Int(symbol.sectionIndex)) else {
            throw fail("refers to undefined symbol \(symbolName): extern variables and kernel functions (.kconfig, .ksyms) are not supported")
        }

        switch raw.type {
        case ELF.relocationBPF64_64:
            guard instruction.isLoadImmediate64 else {
                throw fail("R_BPF_64_64 on opcode 0x\(String(instruction.opcode, radix: 16)), expected ld_imm64 (0x18)")
            }
            if targetSection.name == BTFMapDefinitions.sectionName || targetSection.name == LegacyMapDefinitions.sectionName {
                return .data(.map(name: try mapName(symbol: symbol, instruction: instruction, section: targetSection, fail: fail)))
            }
            if DataSectionMaps.isDataSection(targetSection.name) {
                // A named variable has its offset in the symbol; a static one is
                // the section symbol plus an offset clang leaves in `imm`.
                let offset = Int64(clamping: symbol.value) + Int64(instruction.imm)
                guard let offset32 = UInt32(exactly: offset) else {
                    throw fail("offset \(offset) into \(targetSection.name) is out of range")
                }
                return .data(.mapValue(mapName: targetSection.name, offset: offset32))
            }
            if targetSection.isExecutable {
                throw fail("takes the address of function \(symbolName) (callbacks such as bpf_loop are not supported)")
            }
            throw fail("refers to \(symbolName) in section \(targetSection.displayName), which holds neither maps nor global data")

        case ELF.relocationBPF64_32:
            guard instruction.isFunctionCall else {
                throw fail("R_BPF_64_32 on an instruction that is not a bpf-to-bpf call")
            }
            guard targetSection.isExecutable else {
                throw fail("call to \(symbolName) in non-executable section \(targetSection.displayName)")
            }
            // libbpf's rule: callee slot = symbol slot + imm + 1. For a function
            // symbol clang writes imm = -1; for a section symbol imm carries the offset.
            guard symbol.value % 8 == 0, let symbolSlot = Int(exactly: symbol.value / 8) else {
                throw fail("call target \(symbolName) at byte \(symbol.value) is not on an instruction boundary")
            }
            return .call(sectionIndex: targetSection.index, slot: symbolSlot + Int(instruction.imm) + 1)

        default:
            throw fail("unsupported relocation \(ELF.relocationTypeName(raw.type)) against \(symbolName)")
        }
    }

    /// The map an ld_imm64 refers to: the symbol's own name, or for a section
    /// symbol, the map symbol at the offset clang left in `imm`.
    private func mapName(symbol: Symbol, instruction: Instruction, section: SectionHeader,
                         fail: (String) -> ObjectReadError) throws(ObjectReadError) -> String {
        guard symbol.isSectionSymbol else { return symbol.name }
        let offset = UInt64(UInt32(bitPattern: instruction.imm))
        guard let map = symbols.first(where: {
            Int($0.sectionIndex) == section.index && !$0.isSectionSymbol && $0.value == offset
        }) else {
            throw fail("no map symbol at offset \(offset) of \(section.name)")
        }
        return map.name
    }
}
