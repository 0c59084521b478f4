import Testing
@testable import ELFReader

@Test func instructionBytesAreLittleEndian() {
    let insn = Instruction(opcode: 0xb7, dst: 1, src: 2, offset: -1, imm: 0x01020304)
    #expect(insn.bytes == [0xb7, 0x21, 0xff, 0xff, 0x04, 0x03, 0x02, 0x01])
}
