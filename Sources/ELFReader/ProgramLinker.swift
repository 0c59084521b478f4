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
        /// The first function (in `functions` order) starting at each slot.
        let functionsByStart: [Int: Function]

        init(header: SectionHeader, instructions: [Instruction], functions: [Function], relocations: [Int: RawRelocation]) {
            self.header = header
            self.instructions = instructions
            self.functions = functions
            self.relocations = relocations
            var byStart: [Int: Function] = [:]
            for function in functions where byStart[function.start] == nil { byStart[function.start] = function }
            functionsByStart = byStart
        }

        func function(startingAt slot: Int) -> Function? { functionsByStart[slot] }
    }

    /// How big linked programs may grow.
    struct SlotLimits {
        /// Per program.
        var program: Int
        /// All programs together.
        var total: Int

        /// The kernel loads at most 1M instructions per program
        /// (`BPF_COMPLEXITY_LIMIT_INSNS`); `BPF_PROG_LOAD` refuses more with
        /// E2BIG. Every program carries its own copy of each subprogram it
        /// calls, so a small object with many entry points calling one big
        /// function links into (entries x function size) slots: the total
        /// bound keeps a 100 KiB file from demanding gigabytes.
        static let standard = SlotLimits(program: 1_000_000, total: 4_000_000)
    }

    let elf: ELFFile
    let symbols: [Symbol]
    let codeSections: [Int: CodeSection]
    /// `.BTF.ext` records by section name, sorted by byte offset.
    let btfExtRecords: [String: SortedBTFExtRecords]
    /// Symbol names by (section, offset), for map references through a section symbol.
    let mapSymbolNames: [MapSymbolKey: String]
    let limits: SlotLimits

    init(elf: ELFFile, symbols: [Symbol], relocations: [Int: [RawRelocation]],
         lineAndFuncInfo: [String: BTFExtParser.SectionRecords], limits: SlotLimits = .standard) throws(ObjectReadError) {
        self.limits = limits
        self.elf = elf
        self.symbols = symbols
        self.btfExtRecords = lineAndFuncInfo.mapValues(SortedBTFExtRecords.init)
        self.mapSymbolNames = Self.mapSymbolNames(symbols)
        var functionSymbolsBySection: [Int: [Symbol]] = [:]
        for symbol in symbols where symbol.isFunction {
            functionSymbolsBySection[Int(symbol.sectionIndex), default: []].append(symbol)
        }
        var codeSections: [Int: CodeSection] = [:]
        for header in elf.sections where header.isExecutable && header.type == ELF.sectionProgBits {
            let instructions = try Instruction.decodeAll(try elf.contents(of: header), section: header.displayName)
            let functions = try Self.functions(in: header, instructionCount: instructions.count,
                                               functionSymbols: functionSymbolsBySection[header.index] ?? [])
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
        var totalSlots = 0
        for index in codeSections.keys.sorted() {
            guard let section = codeSections[index] else { continue }
            for function in section.functions where function.isEntryPoint {
                let limit = min(limits.program, limits.total - totalSlots)
                let program = try link(entry: function, in: section, slotLimit: limit, linkedSoFar: totalSlots)
                totalSlots += program.instructions.count
                programs.append(program)
            }
        }
        return programs
    }

    /// The function symbols of a section, with their extent in slots.
    private static func functions(in section: SectionHeader, instructionCount: Int,
                                  functionSymbols: [Symbol]) throws(ObjectReadError) -> [Function] {
        let functionSymbols = functionSymbols.sorted { $0.value < $1.value }
        // For each position, the next one with a greater value (symbols may share a value).
        var nextGreater = [Int](repeating: functionSymbols.count, count: functionSymbols.count)
        for position in functionSymbols.indices.reversed().dropFirst() {
            nextGreater[position] = functionSymbols[position + 1].value > functionSymbols[position].value
                ? position + 1 : nextGreater[position + 1]
        }
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
                let next = nextGreater[position] < functionSymbols.count ? functionSymbols[nextGreater[position]] : nil
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
        /// Where each placed function starts, by (section index, first slot in the section).
        var placed: [FunctionKey: Int]

        struct FunctionKey: Hashable {
            let sectionIndex: Int
            let start: Int
            init(_ function: Function) {
                sectionIndex = function.sectionIndex
                start = function.start
            }
        }

        init(entry: Function, in section: CodeSection) {
            instructions = Array(section.instructions[entry.start..<entry.start + entry.count])
            layout = [(entry, 0)]
            placed = [FunctionKey(entry): 0]
        }

        /// Where `callee` starts in the program, appending its body on first use.
        mutating func start(of callee: Function, from section: CodeSection) -> Int {
            if let start = placed[FunctionKey(callee)] { return start }
            let start = instructions.count
            layout.append((callee, start))
            placed[FunctionKey(callee)] = start
            instructions += section.instructions[callee.start..<callee.start + callee.count]
            return start
        }
    }

    /// Lays out `entry`, then every function it reaches (breadth first),
    /// fixing calls and collecting relocations as it goes.
    /// `slotLimit` is what this program may grow to; `linkedSoFar`, the
    /// programs before it (both for the error message).
    private func link(entry: Function, in entrySection: CodeSection, slotLimit: Int,
                      linkedSoFar: Int) throws(ObjectReadError) -> ProgramSpec {
        var assembly = Assembly(entry: entry, in: entrySection)
        func checkSize(_ adding: String) throws(ObjectReadError) {
            let count = assembly.instructions.count
            guard count > slotLimit else { return }
            let reason = slotLimit < limits.program
                ? "with the \(linkedSoFar) instructions of the programs before it, all programs together exceed \(limits.total) instructions after linking"
                : "\(count) instructions, more than the kernel's limit of \(limits.program) per program"
            throw ObjectReadError(section: entrySection.header.displayName, offset: UInt64(entry.start) * 8,
                                  reason: "program \(entry.name) \(adding): \(reason)")
        }
        try checkSize("is too big")
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
                    try checkSize("with \(callee.name) linked in")
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

        let (funcInfo, lineInfo, coreRelocations) = try btfExtRecords(for: assembly.layout)
        return ProgramSpec(name: entry.name, sectionName: entrySection.header.name,
                           kind: ProgramKind(sectionName: entrySection.header.name),
                           instructions: assembly.instructions, entryLength: entry.count,
                           relocations: assembly.relocations, funcInfo: funcInfo, lineInfo: lineInfo,
                           coreRelocations: coreRelocations)
    }
}
