import ELFReader

/// Hand-assembled BPF for tests: a few instruction constructors, named as the
/// kernel's `filter.h` macros are (BPF_MOV64_IMM, BPF_LDX_MEM, ...).
enum Asm {
    static func mov64(_ dst: UInt8, imm: Int32) -> Instruction { .init(opcode: 0xb7, dst: dst, src: 0, offset: 0, imm: imm) }
    static func mov64(_ dst: UInt8, src: UInt8) -> Instruction { .init(opcode: 0xbf, dst: dst, src: src, offset: 0, imm: 0) }
    static func add64(_ dst: UInt8, imm: Int32) -> Instruction { .init(opcode: 0x07, dst: dst, src: 0, offset: 0, imm: imm) }
    /// `*(u32 *)(dst + off) = src`
    static func stx32(_ dst: UInt8, _ off: Int16, _ src: UInt8) -> Instruction { .init(opcode: 0x63, dst: dst, src: src, offset: off, imm: 0) }
    /// `*(u64 *)(dst + off) = src`
    static func stx64(_ dst: UInt8, _ off: Int16, _ src: UInt8) -> Instruction { .init(opcode: 0x7b, dst: dst, src: src, offset: off, imm: 0) }
    /// `dst = *(u32 *)(src + off)`
    static func ldx32(_ dst: UInt8, _ src: UInt8, _ off: Int16) -> Instruction { .init(opcode: 0x61, dst: dst, src: src, offset: off, imm: 0) }
    /// `dst = *(u64 *)(src + off)`
    static func ldx64(_ dst: UInt8, _ src: UInt8, _ off: Int16) -> Instruction { .init(opcode: 0x79, dst: dst, src: src, offset: off, imm: 0) }
    /// `if dst == imm goto +off`
    static func jeq(_ dst: UInt8, imm: Int32, _ off: Int16) -> Instruction { .init(opcode: 0x15, dst: dst, src: 0, offset: off, imm: imm) }
    static func call(_ helper: Int32) -> Instruction { .init(opcode: 0x85, dst: 0, src: 0, offset: 0, imm: helper) }
    static let exit = Instruction(opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0)
    /// `dst = imm64` as two slots (a relocation turns it into a map reference).
    static func loadImm64(_ dst: UInt8, _ value: UInt64 = 0) -> [Instruction] {
        [.init(opcode: 0x18, dst: dst, src: 0, offset: 0, imm: Int32(truncatingIfNeeded: value)),
         .init(opcode: 0x00, dst: 0, src: 0, offset: 0, imm: Int32(truncatingIfNeeded: value >> 32))]
    }
}

/// Hand-built stand-ins for objects, used where a test needs a precise program.
enum HandBuilt {
    static let helperMapLookupElem: Int32 = 1
    static let helperPerfEventOutput: Int32 = 25

    /// The same shape as bpf/retrans.o, assembled by hand: on each hit of
    /// tcp/tcp_retransmit_skb, send 8 bytes (the `.rodata` flag `tracepoint_has_err`)
    /// to `events` with BPF_F_CURRENT_CPU, then count the outcome in the per-CPU
    /// `stats` map (index 0 emitted, 1 failed). Uses all three relocation kinds
    /// the loader patches: a map (`events`, `stats`) and a global (`.rodata`).
    static func retransLikeObject(programName: String = "tcp_retransmit_skb",
                                  category: String = "tcp", tracepoint: String = "tcp_retransmit_skb") -> ObjectSpec {
        var instructions: [Instruction] = []
        var relocations: [Relocation] = []
        func emit(_ instruction: Instruction) { instructions.append(instruction) }
        func emitMap(_ register: UInt8, _ target: RelocationTarget) {
            relocations.append(Relocation(instructionIndex: instructions.count, target: target))
            instructions += Asm.loadImm64(register)
        }

        emit(Asm.mov64(6, src: 1))                      // r6 = ctx
        emitMap(1, .mapValue(mapName: ".rodata", offset: 0))
        emit(Asm.ldx32(1, 1, 0))                        // r1 = tracepoint_has_err
        emit(Asm.stx64(10, -16, 1))                     // data = r1 (8 bytes at fp-16)
        emit(Asm.mov64(1, src: 6))                      // r1 = ctx
        emitMap(2, .map(name: "events"))                // r2 = &events
        instructions += Asm.loadImm64(3, 0xffff_ffff)   // r3 = BPF_F_CURRENT_CPU
        emit(Asm.mov64(4, src: 10))
        emit(Asm.add64(4, imm: -16))                    // r4 = &data
        emit(Asm.mov64(5, imm: 8))                      // r5 = sizeof(data)
        emit(Asm.call(helperPerfEventOutput))
        emit(Asm.mov64(1, imm: 0))                      // key = EMITTED
        emit(Asm.jeq(0, imm: 0, 1))                     // output returned 0?
        emit(Asm.mov64(1, imm: 1))                      // key = EMIT_FAILED
        emit(Asm.stx32(10, -4, 1))
        emit(Asm.mov64(2, src: 10))
        emit(Asm.add64(2, imm: -4))                     // r2 = &key
        emitMap(1, .map(name: "stats"))                 // r1 = &stats
        emit(Asm.call(helperMapLookupElem))
        emit(Asm.jeq(0, imm: 0, 3))
        emit(Asm.ldx64(1, 0, 0))
        emit(Asm.add64(1, imm: 1))
        emit(Asm.stx64(0, 0, 1))                        // (*counter)++ (per-CPU slot)
        emit(Asm.mov64(0, imm: 0))
        emit(Asm.exit)

        let program = ProgramSpec(
            name: programName, sectionName: "tracepoint/\(category)/\(tracepoint)",
            kind: .tracepoint(category: category, name: tracepoint), instructions: instructions,
            entryLength: instructions.count, relocations: relocations, funcInfo: [], lineInfo: [])
        let maps = [
            MapSpec(name: "events", type: .perfEventArray, keySize: 4, valueSize: 4, maxEntries: 0, flags: 0,
                    source: .btf),
            MapSpec(name: "stats", type: .perCPUArray, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0,
                    source: .btf),
            MapSpec(name: ".rodata", type: .array, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0,
                    source: .dataSection, initialValue: [1, 0, 0, 0],
                    variables: [VariableSpec(name: "tracepoint_has_err", offset: 0, size: 4)]),
        ]
        return ObjectSpec(license: "GPL", kernelVersion: nil, programs: [program], maps: maps, btf: nil,
                          sections: [], symbols: [])
    }

    /// A tracepoint program that reads 4 bytes at ctx + 8192 (past PERF_MAX_TRACE_SIZE): the verifier refuses it.
    /// `padding` straight-line instructions come first, to make the log long.
    static func rejectedObject(padding: Int = 0) -> ObjectSpec {
        var instructions = [Asm.mov64(0, imm: 0)]
        instructions += Array(repeating: Asm.add64(0, imm: 1), count: padding)
        instructions += [Asm.ldx32(0, 1, 8192), Asm.exit]
        let program = ProgramSpec(
            name: "read_past_context", sectionName: "tracepoint/tcp/tcp_retransmit_skb",
            kind: .tracepoint(category: "tcp", name: "tcp_retransmit_skb"), instructions: instructions,
            entryLength: instructions.count, relocations: [], funcInfo: [], lineInfo: [])
        return ObjectSpec(license: "GPL", kernelVersion: nil, programs: [program], maps: [], btf: nil,
                          sections: [], symbols: [])
    }
}
