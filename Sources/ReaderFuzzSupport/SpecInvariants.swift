import ELFReader

/// What a loader may rely on in any spec the reader returns: indexes in
/// range, calls pointing where their relocation says, BTF ids in order. A
/// reader that returns a spec breaking one of these has let malformed input
/// through, and the loader would trap or send the kernel garbage.
public enum SpecInvariants {
    /// Every broken invariant, described; empty when the spec is sound.
    public static func violations(in object: ObjectSpec) -> [String] {
        var found: [String] = []
        for program in object.programs {
            found += violations(in: program).map { "program \(program.name): \($0)" }
        }
        for map in object.maps where map.source == .dataSection {
            if let value = map.initialValue, value.count != Int(map.valueSize) {
                found.append("map \(map.name): initial value has \(value.count) bytes, value size is \(map.valueSize)")
            }
            for variable in map.variables where UInt64(variable.offset) + UInt64(variable.size) > UInt64(map.valueSize) {
                found.append("map \(map.name): variable \(variable.name) ends past the value (\(map.valueSize) bytes)")
            }
        }
        if let btf = object.btf {
            for (index, type) in btf.types.enumerated() where Int(type.id) != index + 1 {
                found.append("BTF type at index \(index) has id \(type.id)")
            }
        }
        return found
    }

    private static func violations(in program: ProgramSpec) -> [String] {
        let count = program.instructions.count
        var found: [String] = []
        if count == 0 { found.append("no instructions") }
        for relocation in program.coreRelocations where !program.instructions.indices.contains(relocation.instructionIndex) {
            found.append("CO-RE relocation at instruction \(relocation.instructionIndex) outside 0..<\(count)")
        }
        if program.entryLength <= 0 || program.entryLength > count {
            found.append("entry length \(program.entryLength) outside 1...\(count)")
        }
        // Walking slot by slot, as the kernel does: an ld_imm64 needs its second slot.
        var index = 0
        var instructionStarts = Set<Int>()
        while index < count {
            instructionStarts.insert(index)
            if program.instructions[index].isLoadImmediate64, index + 1 >= count {
                found.append("ld_imm64 at \(index) has no second slot")
            }
            index += Disassembler.slotCount(program.instructions[index])
        }
        for relocation in program.relocations {
            let at = relocation.instructionIndex
            guard instructionStarts.contains(at) else {
                found.append("relocation at \(at) is not the start of an instruction (\(count) slots)")
                continue
            }
            let instruction = program.instructions[at]
            switch relocation.target {
            case .map, .mapValue:
                if !instruction.isLoadImmediate64 {
                    found.append("data relocation at \(at) is on opcode \(instruction.opcode), not ld_imm64")
                }
            case .call(let function, let target):
                if !instruction.isFunctionCall {
                    found.append("call relocation at \(at) is on opcode \(instruction.opcode), not a bpf-to-bpf call")
                } else if target < 0 || target >= count {
                    found.append("call at \(at) to \(function) lands at \(target), outside the program")
                } else if Int(instruction.imm) != target - at - 1 {
                    found.append("call at \(at) to \(function): imm \(instruction.imm) does not reach \(target)")
                }
            }
        }
        for info in program.funcInfo where Int(info.instructionOffset) >= count {
            found.append("func_info at \(info.instructionOffset) is outside the program")
        }
        for info in program.lineInfo where Int(info.instructionOffset) >= count {
            found.append("line_info at \(info.instructionOffset) is outside the program")
        }
        return found
    }
}
