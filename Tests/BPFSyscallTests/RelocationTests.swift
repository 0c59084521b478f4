import Testing
import ELFReader
@testable import BPFSyscall

/// The relocator is pure: these run without a kernel.
@Suite struct RelocationTests {
    let program: [Instruction] = [Asm.mov64(6, src: 1)] + Asm.loadImm64(1) + [Asm.ldx32(1, 1, 0)]
        + Asm.loadImm64(2) + [Asm.call(25), Asm.exit]

    @Test func mapReferenceGetsPseudoMapFDAndTheFD() throws {
        let patched = try Relocator.apply(program, relocations: [Relocation(instructionIndex: 4, target: .map(name: "events"))],
                                          mapFDs: ["events": 42])
        #expect(patched[4].src == 1)
        #expect(patched[4].imm == 42)
        #expect(patched[4].dst == 2, "the destination register is kept")
        #expect(patched[5].imm == 0)
        // Only the relocated slot changed.
        #expect(Array(patched[0..<4]) == Array(program[0..<4]))
        #expect(Array(patched[6...]) == Array(program[6...]))
    }

    @Test func globalReferenceGetsPseudoMapValueFDAndOffset() throws {
        let patched = try Relocator.apply(
            program, relocations: [Relocation(instructionIndex: 1, target: .mapValue(mapName: ".rodata", offset: 12))],
            mapFDs: [".rodata": 7])
        #expect(patched[1].src == 2)
        #expect(patched[1].imm == 7)
        #expect(patched[2].imm == 12)
        #expect(patched[1].opcode == 0x18 && patched[2].opcode == 0)
    }

    @Test func callsAreLeftAlone() throws {
        let patched = try Relocator.apply(
            program, relocations: [Relocation(instructionIndex: 6, target: .call(function: "helper", targetIndex: 3))],
            mapFDs: [:])
        #expect(patched == program)
    }

    @Test func theBytesAreWhatTheKernelExpects() throws {
        let patched = try Relocator.apply(program, relocations: [Relocation(instructionIndex: 4, target: .map(name: "m"))],
                                          mapFDs: ["m": 0x0102_0304])
        // opcode 0x18, dst r2 in the low nibble, src BPF_PSEUDO_MAP_FD in the high nibble, imm little-endian.
        #expect(patched[4].bytes == [0x18, 0x12, 0, 0, 0x04, 0x03, 0x02, 0x01])
    }

    @Test func unknownMapNamesTheInstructionAndTheMap() {
        #expect(throws: RelocationError(instructionIndex: 4, reason: .unknownMap("events"))) {
            try Relocator.apply(program, relocations: [Relocation(instructionIndex: 4, target: .map(name: "events"))],
                                mapFDs: ["stats": 3])
        }
        let error = RelocationError(instructionIndex: 4, reason: .unknownMap("events"))
        #expect(error.description == "map relocation at instruction 4: unknown map `events`")
    }

    @Test func relocationOnTheWrongInstructionIsRefused() {
        #expect(throws: RelocationError(instructionIndex: 0, reason: .notLoadImm64(opcode: 0xbf))) {
            try Relocator.apply(program, relocations: [Relocation(instructionIndex: 0, target: .map(name: "m"))],
                                mapFDs: ["m": 3])
        }
        #expect(throws: RelocationError(instructionIndex: 99, reason: .outOfRange(count: program.count))) {
            try Relocator.apply(program, relocations: [Relocation(instructionIndex: 99, target: .map(name: "m"))],
                                mapFDs: ["m": 3])
        }
        let truncated = Array(program[0..<2])
        #expect(throws: RelocationError(instructionIndex: 1, reason: .missingSecondSlot)) {
            try Relocator.apply(truncated, relocations: [Relocation(instructionIndex: 1, target: .map(name: "m"))],
                                mapFDs: ["m": 3])
        }
    }
}
