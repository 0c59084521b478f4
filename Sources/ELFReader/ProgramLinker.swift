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
                let end = next.flatMap { Int(exactly: $0.value / 8) } ?? instructionCount
                count = min(end, instructionCount) - start
            }
            guard count > 0 else { continue }
            functions.append(Function(name: symbol.name, sectionIndex: section.index, start: start, count: count,
                                      isEntryPoint: symbol.isGlobal && section.name != ".text"))
        }
        return functions
    }

    /// The program being assembled: its slots so far, and where each function landed.
    private struct Assembly {
        var instructions: [Instruction]
        var relocations: [Relocation] = []
        var layout: [(function: Function, start: Int)]

        /// Where `callee` starts in the program, appending its body on first use.
        mutating func start(of callee: Function, from section: CodeSection) -> Int {
            if let placed = layout.first(where: { $0.function.sectionIndex == callee.sectionIndex && $0.function.start == callee.start }) {
                return placed.start
            }
            let start = instructions.count
            layout.append((callee, start))
            instructions += section.instructions[callee.start..<callee.start + callee.count]
            return start
        }
    }

    /// Lays out `entry`, then every function it reaches (breadth first),
    /// fixing calls and collecting relocations as it goes.
    private func link(entry: Function, in entrySection: CodeSection) throws(ObjectReadError) -> ProgramSpec {
        var assembly = Assembly(instructions: Array(entrySection.instructions[entry.start..<entry.start + entry.count]),
                                layout: [(entry, 0)])
        var next = 0
        while next < assembly.layout.count {
            let (function, start) = assembly.layout[next]
            next += 1
            guard let section = codeSections[function.sectionIndex] else { continue }
            var slot = 0
            while slot < function.count {
                let sectionSlot = function.start + slot
                let programSlot = start + slot
                let instruction = section.instructions[sectionSlot]
                func fail(_ reason: String) -> ObjectReadError {
                    ObjectReadError(section: section.header.displayName, offset: UInt64(sectionSlot * 8),
                                    reason: "program \(entry.name): instruction \(programSlot): \(reason)")
                }

                // Where a call goes, in section coordinates, if this is a bpf-to-bpf call.
                var callTarget: (section: CodeSection, slot: Int)?
                if let raw = section.relocations[sectionSlot] {
                    switch try classify(raw, instruction: instruction, fail: fail) {
                    case .data(let target):
                        assembly.relocations.append(Relocation(instructionIndex: programSlot, target: target))
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
                    let calleeStart = assembly.start(of: callee, from: targetSection)
                    guard let relative = Int32(exactly: calleeStart - (programSlot + 1)) else {
                        throw fail("call distance does not fit 32 bits")
                    }
                    assembly.instructions[programSlot].imm = relative
                    assembly.relocations.append(Relocation(instructionIndex: programSlot,
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

        let (funcInfo, lineInfo) = try btfExtRecords(for: assembly.layout)
        return ProgramSpec(name: entry.name, sectionName: entrySection.header.name,
                           kind: ProgramKind(sectionName: entrySection.header.name),
                           instructions: assembly.instructions, entryLength: entry.count,
                           relocations: assembly.relocations, funcInfo: funcInfo, lineInfo: lineInfo)
    }

    /// The `.BTF.ext` records of every function in the layout, moved from
    /// section byte offsets to program slots.
    private func btfExtRecords(for layout: [(function: Function, start: Int)]) throws(ObjectReadError)
        -> (funcInfo: [FuncInfo], lineInfo: [LineInfo]) {
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
        return (funcInfo, lineInfo)
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
}
