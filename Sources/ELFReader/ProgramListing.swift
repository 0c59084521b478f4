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

    public init(program: ProgramSpec, object: ObjectSpec) {
        let labels = Self.labels(for: program, object: object)
        let relocations = Dictionary(program.relocations.map { ($0.instructionIndex, $0.target) },
                                     uniquingKeysWith: { first, _ in first })
        let linesByIndex = Dictionary(program.lineInfo.map { (Int($0.instructionOffset), $0) },
                                      uniquingKeysWith: { first, _ in first })

        var lines: [Line] = []
        var index = 0
        var lastSource: (file: UInt32, line: UInt32)?
        while index < program.instructions.count {
            if let label = labels[index] { lines.append(.label(label)) }
            // Line 0 marks compiler-made code with no source line; a repeat of
            // the line just shown adds nothing.
            if let info = linesByIndex[index], let btf = object.btf, info.line != 0,
               lastSource.map({ $0.file != info.fileNameOffset || $0.line != info.line }) ?? true {
                lastSource = (info.fileNameOffset, info.line)
                let path = btf.string(at: info.fileNameOffset) ?? "?"
                let file = path.split(separator: "/").last.map(String.init) ?? path
                let text = (btf.string(at: info.lineOffset) ?? "").trimmingSpaces
                lines.append(.source(file: file, line: info.line, text: text))
            }
            let instruction = program.instructions[index]
            let next = index + 1 < program.instructions.count ? program.instructions[index + 1] : nil
            var annotations = Disassembler.Annotations(relocation: relocations[index])
            if case .mapValue(let mapName, let offset)? = relocations[index] {
                annotations.variableName = object.map(named: mapName)?.variables.first { $0.offset == offset }?.name
            }
            if let target = Self.jumpTarget(of: instruction, at: index) {
                annotations.targetLabel = labels[target]
            }
            lines.append(.instruction(index: index, text: Disassembler.format(instruction, next: next, annotations: annotations)))
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
    static func labels(for program: ProgramSpec, object: ObjectSpec) -> [Int: String] {
        var labels: [Int: String] = [0: program.name]
        // (section index, first byte in the section, first slot, slot count) per function copy.
        var regions: [(section: Int, byteStart: UInt64, slotStart: Int, count: Int)] = []
        func functionSymbol(named name: String, sectionName: String? = nil) -> Symbol? {
            object.symbols.first { symbol in
                symbol.type == ELF.symbolFunction && symbol.name == name &&
                    (sectionName == nil || object.sections.first { $0.index == Int(symbol.sectionIndex) }?.name == sectionName)
            }
        }
        if let entry = functionSymbol(named: program.name, sectionName: program.sectionName) {
            regions.append((Int(entry.sectionIndex), entry.value, 0, program.entryLength))
        }
        for relocation in program.relocations {
            guard case .call(let function, let start) = relocation.target else { continue }
            labels[start] = function
            if let symbol = functionSymbol(named: function), !regions.contains(where: { $0.slotStart == start }) {
                regions.append((Int(symbol.sectionIndex), symbol.value, start, Int(clamping: symbol.size / 8)))
            }
        }
        for symbol in object.symbols where symbol.type == ELF.symbolNoType && !symbol.name.isEmpty {
            for region in regions where Int(symbol.sectionIndex) == region.section && symbol.value >= region.byteStart {
                let slot = Int(clamping: (symbol.value - region.byteStart) / 8)
                if slot < region.count, labels[region.slotStart + slot] == nil {
                    labels[region.slotStart + slot] = symbol.name
                }
            }
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
}

extension String {
    /// Without leading and trailing spaces and tabs (no Foundation here).
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(self.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
