/// Writing resolved CO-RE values into instructions (libbpf `bpf_core_patch_insn`).
///
/// What each instruction class takes:
///
///     ALU / ALU64 with an immediate   imm    (r1 = 4, r2 += 48)
///     LDX / ST / STX                  off    (r1 = *(u32 *)(r2 + 524)); the access width
///                                             follows the field's when it changed safely
///     LD_IMM64                        both imm halves (r1 = 7 ll)
///
/// Before patching, the instruction must hold the value the object was
/// compiled with (except where libbpf skips the check: bitfields, type ids),
/// so a mismatched record can never write a wrong offset. A poisoned
/// instruction becomes `call 0xbad2310`: the verifier rejects it only if it
/// is reachable, with "invalid func unknown#195896080".
extension CORERelocator {
    /// libbpf's poison: `BPF_JMP | BPF_CALL` with helper id 0xbad2310 ("bad relo").
    public static let poisonHelperID: Int32 = 195_896_080
    public static let poisonInstruction = Instruction(opcode: 0x85, dst: 0, src: 0, offset: 0, imm: poisonHelperID)

    /// `program.instructions` with every resolution applied.
    public static func patch(_ program: ProgramSpec, with resolutions: [COREResolution]) throws(CORERelocationError) -> [Instruction] {
        var instructions = program.instructions
        for resolution in resolutions {
            try patch(&instructions, resolution, program: program.name)
        }
        return instructions
    }

    static func patch(_ instructions: inout [Instruction], _ resolution: COREResolution,
                      program: String) throws(CORERelocationError) {
        let index = resolution.relocation.instructionIndex
        func fail(_ reason: String) -> CORERelocationError {
            CORERelocationError(program: program, instruction: index, kind: resolution.relocation.kind,
                                access: resolution.access, reason: reason)
        }
        guard instructions.indices.contains(index) else { throw fail("no such instruction (the program has \(instructions.count))") }
        let instruction = instructions[index]
        func poison() {
            if instruction.isLoadImmediate64, index + 1 < instructions.count { instructions[index + 1] = poisonInstruction }
            instructions[index] = poisonInstruction
        }
        guard let newValue = resolution.targetValue else { return poison() }
        let localValue = resolution.localValue
        let validate = resolution.validatesLocalValue

        switch instruction.opcode & 0x07 {
        case 0x04, 0x07:  // ALU, ALU64
            guard instruction.opcode & 0x08 == 0 else { throw fail("ALU instruction takes a register, not an immediate") }
            guard !validate || UInt64(bitPattern: Int64(instruction.imm)) == localValue else {
                throw fail("instruction holds immediate \(instruction.imm), the object's BTF says \(localValue)")
            }
            instructions[index].imm = Int32(truncatingIfNeeded: newValue)
        case 0x01, 0x02, 0x03:  // LDX, ST, STX
            guard !validate || UInt64(bitPattern: Int64(instruction.offset)) == localValue else {
                throw fail("instruction holds offset \(instruction.offset), the object's BTF says \(localValue)")
            }
            guard newValue <= UInt64(Int16.max) else { throw fail("offset \(newValue) does not fit the instruction's 16 bits") }
            if resolution.failsMemorySizeAdjustment { return poison() }
            instructions[index].offset = Int16(newValue)
            let (localSize, targetSize) = resolution.memorySizes
            if localSize != targetSize {
                let sizeCodes: [UInt32: UInt8] = [8: 0x18, 4: 0x00, 2: 0x08, 1: 0x10]
                guard sizeCodes[localSize] == instruction.opcode & 0x18 else {
                    throw fail("instruction accesses \(Self.accessWidth(instruction.opcode)) bytes, the field has \(localSize)")
                }
                guard let code = sizeCodes[targetSize] else { throw fail("the target field is \(targetSize) bytes, not 1, 2, 4 or 8") }
                instructions[index].opcode = instruction.opcode & 0xe7 | code
            }
        case 0x00:  // LD: only ld_imm64 of a plain constant
            guard instruction.isLoadImmediate64, index + 1 < instructions.count, instruction.src == 0, instruction.offset == 0,
                  instructions[index + 1].opcode == 0, instructions[index + 1].dst == 0,
                  instructions[index + 1].src == 0, instructions[index + 1].offset == 0 else {
                throw fail("ld_imm64 has an unexpected form")
            }
            let current = UInt64(UInt32(bitPattern: instruction.imm)) | UInt64(UInt32(bitPattern: instructions[index + 1].imm)) << 32
            guard !validate || current == localValue else {
                throw fail("instruction holds \(current), the object's BTF says \(localValue)")
            }
            instructions[index].imm = Int32(truncatingIfNeeded: newValue)
            instructions[index + 1].imm = Int32(truncatingIfNeeded: newValue >> 32)
        default:
            throw fail("opcode 0x\(String(instruction.opcode, radix: 16)) cannot carry a CO-RE value")
        }
    }

    private static func accessWidth(_ opcode: UInt8) -> Int {
        switch opcode & 0x18 {
        case 0x00: return 4
        case 0x08: return 2
        case 0x10: return 1
        default: return 8
        }
    }
}
