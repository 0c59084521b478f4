/// A program's instructions as a readable listing: function and branch
/// labels, relocation targets by name, helper calls by name, and the C
/// source lines (from `.BTF.ext` line_info) as comments above the
/// instructions they compiled to.
///
///     tcp_retransmit_skb:
///         ; retrans.c:75  event.state = ctx->state;
///          9: r1 = *(u32 *)(r6 + 24)
///         10: *(u32 *)(r10 - 56) = r1
public struct ProgramListing: Sendable, Equatable {
    public enum Line: Sendable, Equatable {
        /// A function name or branch target, printed flush left with a colon.
        case label(String)
        /// A source line from line_info: file base name, line number, text.
        case source(file: String, line: UInt32, text: String)
        /// One instruction (an ld_imm64 counts once, at its first slot).
        case instruction(index: Int, text: String)
    }

    public var lines: [Line]

    /// `coreResolutions`: this program's CO-RE relocations resolved against a
    /// target (`inspect --target-btf`), shown after the instructions they patch;
    /// without them, CO-RE instructions show what the object says.
    public init(program: ProgramSpec, object: ObjectSpec, coreResolutions: [COREResolution]? = nil) {
        let labels = Self.labels(for: program, object: object)
        let coreNotes = Self.coreNotes(for: program, object: object, resolutions: coreResolutions)
        let relocations = Dictionary(program.relocations.map { ($0.instructionIndex, $0.target) },
                                     uniquingKeysWith: { first, _ in first })
        let linesByIndex = Dictionary(program.lineInfo.map { (Int($0.instructionOffset), $0) },
                                      uniquingKeysWith: { first, _ in first })
        var variableNames = VariableNames(maps: object.maps)
        var sourceText = object.btf.map { SourceText(strings: $0.strings) }

        var lines: [Line] = []
        var index = 0
        var lastSource: (file: UInt32, line: UInt32)?
        while index < program.instructions.count {
            if let label = labels[index] { lines.append(.label(label)) }
            // Line 0 marks compiler-made code with no source line; a repeat of
            // the line just shown adds nothing.
            if let info = linesByIndex[index], sourceText != nil, info.line != 0,
               lastSource.map({ $0.file != info.fileNameOffset || $0.line != info.line }) ?? true {
                lastSource = (info.fileNameOffset, info.line)
                let file = sourceText?.fileBaseName(at: info.fileNameOffset) ?? "?"
                let text = sourceText?.lineText(at: info.lineOffset) ?? ""
                lines.append(.source(file: file, line: info.line, text: text))
            }
            let instruction = program.instructions[index]
            let next = index + 1 < program.instructions.count ? program.instructions[index + 1] : nil
            var annotations = Disassembler.Annotations(relocation: relocations[index])
            if case .mapValue(let mapName, let offset)? = relocations[index] {
                annotations.variableName = variableNames.name(inMap: mapName, at: offset)
            }
            if let target = Self.jumpTarget(of: instruction, at: index) {
                annotations.targetLabel = labels[target]
            }
            var text = Disassembler.format(instruction, next: next, annotations: annotations)
            if let note = coreNotes[index] { text += "  ; " + note }
            lines.append(.instruction(index: index, text: text))
            index += Disassembler.slotCount(instruction)
        }
        self.lines = lines
    }

    /// The listing as text, one line per entry.
    public var text: String {
        var output = ""
        for line in lines {
            switch line {
            case .label(let name):
                output += "\(name):\n"
            case .source(let file, let number, let text):
                output += "        ; \(file):\(number)  \(text)\n"
            case .instruction(let index, let text):
                let number = String(index)
                output += String(repeating: " ", count: max(0, 6 - number.count)) + number + ": " + text + "\n"
            }
        }
        return output
    }

    /// `CO-RE byte_off sock.sk_mark: 40 -> 524` per CO-RE instruction
    /// (`-> poisoned` when the target lacks it); without a target, `= 40`.
    static func coreNotes(for program: ProgramSpec, object: ObjectSpec,
                          resolutions: [COREResolution]?) -> [Int: String] {
        var notes: [Int: String] = [:]
        if let resolutions {
            for resolution in resolutions {
                let outcome = resolution.targetValue.map { String(Int64(bitPattern: $0)) } ?? "poisoned"
                notes[resolution.relocation.instructionIndex, default: "CO-RE"] +=
                    " \(resolution.relocation.kind.name) \(resolution.access): \(Int64(bitPattern: resolution.localValue)) -> \(outcome)"
            }
            return notes
        }
        for relocation in program.coreRelocations {
            var note = " \(relocation.kind.name) "
            if let btf = object.btf, let description = try? CORERelocator.describe(relocation, objectBTF: btf, program: program.name) {
                note += "\(description.access) = \(Int64(bitPattern: description.localValue))"
            } else {
                note += "\(relocation.accessString) (invalid)"
            }
            notes[relocation.instructionIndex, default: "CO-RE"] += note
        }
        return notes
    }

    /// The slot a jump lands on, or nil for non-jumps (calls and exit included).
    static func jumpTarget(of instruction: Instruction, at index: Int) -> Int? {
        let instructionClass = instruction.opcode & 0x07
        guard instructionClass == 0x05 || instructionClass == 0x06 else { return nil }
        let operation = instruction.opcode & 0xf0
        guard operation != 0x80, operation != 0x90 else { return nil }
        if instructionClass == 0x06 && operation == 0x00 {
            return index + Int(instruction.imm) + 1  // gotol
        }
        return index + Int(instruction.offset) + 1
    }

    /// Names for slots: the program and its subprograms by function name, the
    /// compiler's local labels (LBB0_2, ...) from the symbol table where the
    /// slot maps back to the section, and `L<slot>` for any other jump target.
    ///
    /// Symbols, sections and relocations come from the file, so every lookup
    /// here is by dictionary or binary search: the listing stays linear in the
    /// program's size however many symbols and calls a hostile object holds.
    static func labels(for program: ProgramSpec, object: ObjectSpec) -> [Int: String] {
        var labels: [Int: String] = [0: program.name]
        // Where each copied function's bytes came from: (section index, first
        // byte in the section, first slot in the program, slot count).
        var regions: [(section: Int, byteStart: UInt64, slotStart: Int, count: Int)] = []
        var regionStarts = Set<Int>()
        var sectionNames: [Int: String] = [:]
        for section in object.sections where sectionNames[section.index] == nil {
            sectionNames[section.index] = section.name
        }
        var firstFunctionNamed: [String: Symbol] = [:]
        for symbol in object.symbols where symbol.type == ELF.symbolFunction && firstFunctionNamed[symbol.name] == nil {
            firstFunctionNamed[symbol.name] = symbol
        }
        let entry = object.symbols.first { symbol in
            symbol.type == ELF.symbolFunction && symbol.name == program.name &&
                sectionNames[Int(symbol.sectionIndex)] == program.sectionName
        }
        if let entry {
            regions.append((Int(entry.sectionIndex), entry.value, 0, program.entryLength))
            regionStarts.insert(0)
        }
        for relocation in program.relocations {
            guard case .call(let function, let start) = relocation.target else { continue }
            labels[start] = function
            if let symbol = firstFunctionNamed[function], regionStarts.insert(start).inserted {
                regions.append((Int(symbol.sectionIndex), symbol.value, start, Int(clamping: symbol.size / 8)))
            }
        }

        // Local labels: the first symbol (in table order) that names a slot wins it.
        var localLabels: [Int: [(value: UInt64, order: Int, name: String)]] = [:]
        for (order, symbol) in object.symbols.enumerated() where symbol.type == ELF.symbolNoType && !symbol.name.isEmpty {
            localLabels[Int(symbol.sectionIndex), default: []].append((symbol.value, order, symbol.name))
        }
        for key in localLabels.keys {
            localLabels[key]?.sort { ($0.value, $0.order) < ($1.value, $1.order) }
        }
        var winners: [Int: (order: Int, name: String)] = [:]
        for region in regions {
            guard let candidates = localLabels[region.section] else { continue }
            var position = Self.firstIndex(in: candidates, notBelow: region.byteStart)
            while position < candidates.count {
                let candidate = candidates[position]
                let slot = (candidate.value - region.byteStart) / 8
                guard slot < UInt64(region.count) else { break }
                let programSlot = region.slotStart + Int(slot)
                if winners[programSlot].map({ candidate.order < $0.order }) ?? true {
                    winners[programSlot] = (candidate.order, candidate.name)
                }
                position += 1
            }
        }
        for (slot, winner) in winners where labels[slot] == nil {
            labels[slot] = winner.name
        }

        var index = 0
        while index < program.instructions.count {
            let instruction = program.instructions[index]
            if let target = jumpTarget(of: instruction, at: index), labels[target] == nil {
                labels[target] = "L\(target)"
            }
            index += Disassembler.slotCount(instruction)
        }
        return labels
    }

    /// The first position in `sorted` (by value) whose value is at least `value`.
    private static func firstIndex(in sorted: [(value: UInt64, order: Int, name: String)], notBelow value: UInt64) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = low + (high - low) / 2
            if sorted[middle].value < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (no Foundation here). By index, not by
    /// `reversed()`: that instantiates `ReversedCollection<Slice<ReversedCollection<...>>>` at
    /// first use, 0.5 M instructions of runtime metadata work in a scrape's `Accept` parsing.
    public var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }),
              let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
