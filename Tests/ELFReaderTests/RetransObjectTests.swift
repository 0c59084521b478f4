import Testing
@testable import ELFReader

/// What the reader makes of the project's own program, checked against the
/// facts of bpf/retrans.c (and llvm-objdump's view of the same object).
@Suite struct RetransObjectTests {
    let spec: ObjectSpec

    init() throws { spec = try Fixture.retrans.spec() }

    @Test func licenseIsGPL() {
        #expect(spec.license == "GPL")
        #expect(spec.kernelVersion == nil)
    }

    @Test func theTracepointProgram() throws {
        #expect(spec.programs.count == 1)
        let program = try #require(spec.program(named: "tcp_retransmit_skb"))
        #expect(program.sectionName == "tracepoint/tcp/tcp_retransmit_skb")
        #expect(program.kind == .tracepoint(category: "tcp", name: "tcp_retransmit_skb"))
        #expect(program.kind.programType == 5)
        // 0x1e8 bytes of code: 61 slots, no subprograms.
        #expect(program.instructions.count == 61)
        #expect(program.entryLength == 61)
        #expect(program.instructions.last?.opcode == 0x95)  // exit
    }

    @Test func theMaps() throws {
        let events = try #require(spec.map(named: "events"))
        #expect(events.type == .perfEventArray)
        #expect(events.keySize == 4 && events.valueSize == 4 && events.maxEntries == 0)
        #expect(events.source == .btf)

        let stats = try #require(spec.map(named: "stats"))
        #expect(stats.type == .perCPUArray)
        #expect(stats.keySize == 4 && stats.valueSize == 8 && stats.maxEntries == 2)
        #expect(stats.btfKeyTypeID != 0 && stats.btfValueTypeID != 0)
        let btf = try #require(spec.btf)
        #expect(btf.type(id: stats.btfKeyTypeID)?.name == "__u32")
        #expect(btf.type(id: stats.btfValueTypeID)?.name == "__u64")

        let rodata = try #require(spec.map(named: ".rodata"))
        #expect(rodata.source == .dataSection)
        #expect(rodata.type == .array && rodata.keySize == 4 && rodata.valueSize == 4 && rodata.maxEntries == 1)
        #expect(rodata.flags == 0x80)
        #expect(rodata.initialValue == [1, 0, 0, 0])  // tracepoint_has_err = 1
        #expect(rodata.variables == [VariableSpec(name: "tracepoint_has_err", offset: 0, size: 4)])
        #expect(btf.type(id: rodata.btfValueTypeID)?.name == ".rodata")
        #expect(spec.maps.map(\.name) == ["events", "stats", ".rodata"])
    }

    @Test func relocationsNameTheirTargets() throws {
        let program = try #require(spec.programs.first)
        // The slots llvm-objdump -dr prints for this object (r_offset / 8).
        #expect(program.relocations == [
            Relocation(instructionIndex: 11, target: .mapValue(mapName: ".rodata", offset: 0)),
            Relocation(instructionIndex: 32, target: .map(name: "events")),
            Relocation(instructionIndex: 43, target: .map(name: "stats")),
            Relocation(instructionIndex: 52, target: .map(name: "stats")),
        ])
        for relocation in program.relocations {
            #expect(program.instructions[relocation.instructionIndex].isLoadImmediate64)
        }
    }

    @Test func funcAndLineInfoAreInSlots() throws {
        let program = try #require(spec.programs.first)
        #expect(program.funcInfo.count == 1)
        #expect(program.funcInfo.first?.instructionOffset == 0)
        let btf = try #require(spec.btf)
        if let typeID = program.funcInfo.first?.typeID {
            #expect(btf.type(id: typeID)?.name == "tcp_retransmit_skb")
        }
        #expect(!program.lineInfo.isEmpty)
        for line in program.lineInfo {
            #expect(Int(line.instructionOffset) < program.instructions.count)
            #expect(btf.string(at: line.fileNameOffset)?.hasSuffix("retrans.c") == true)
        }
    }
}
