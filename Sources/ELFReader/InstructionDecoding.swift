/// Turning bytes into `Instruction` slots, and the opcode facts the reader needs.
///
/// `struct bpf_insn` is 8 bytes: opcode u8, regs u8 (dst in the low nibble,
/// src in the high nibble on little-endian), off i16, imm i32.
enum BPFOpcode {
    /// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit immediate load, spread over two slots.
    static let loadImmediate64: UInt8 = 0x18
    /// `BPF_JMP | BPF_CALL`.
    static let call: UInt8 = 0x85
    /// `BPF_JMP | BPF_EXIT`.
    static let exit: UInt8 = 0x95
    /// `src_reg` of a call to another BPF function (rather than a helper).
    static let pseudoCall: UInt8 = 1
    /// `src_reg` of a call to a kernel function (kfunc).
    static let pseudoKernelFunctionCall: UInt8 = 2
}

extension Instruction {
    /// Decodes one slot from `reader`.
    init(reading reader: inout ByteReader) throws(ObjectReadError) {
        let opcode = try reader.readU8()
        let registers = try reader.readU8()
        let offset = try reader.readI16()
        let imm = try reader.readI32()
        self.init(opcode: opcode, dst: registers & 0x0f, src: registers >> 4, offset: offset, imm: imm)
    }

    /// Decodes a whole section's bytes into slots.
    static func decodeAll(_ bytes: [UInt8], section: String) throws(ObjectReadError) -> [Instruction] {
        var reader = ByteReader(bytes, context: section)
        guard bytes.count % 8 == 0 else {
            throw reader.error("size \(bytes.count) is not a multiple of the 8-byte instruction", at: 0)
        }
        var instructions: [Instruction] = []
        instructions.reserveCapacity(bytes.count / 8)
        while !reader.isAtEnd {
            instructions.append(try Instruction(reading: &reader))
        }
        return instructions
    }

    /// Decodes 8-byte slots from anywhere (a kernel's dump of a loaded program, say); `context` names them in errors.
    public static func slots(of bytes: [UInt8], context: String) throws(ObjectReadError) -> [Instruction] {
        try decodeAll(bytes, section: context)
    }

    public var isLoadImmediate64: Bool { opcode == BPFOpcode.loadImmediate64 }
    public var isCall: Bool { opcode == BPFOpcode.call }
    /// A bpf-to-bpf call: `imm` is the distance to the callee, in slots, minus one.
    public var isFunctionCall: Bool { opcode == BPFOpcode.call && src == BPFOpcode.pseudoCall }
}
