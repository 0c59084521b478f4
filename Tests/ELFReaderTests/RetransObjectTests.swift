import Testing
@testable import ELFReader

/// What the reader makes of the project's own program, checked against the
/// facts of bpf/retrans.c (and llvm-objdump's view of the same object, which
/// LLVMCrossCheckTests compares instruction by instruction).
@Suite struct RetransObjectTests {
    let spec: ObjectSpec

    init() throws { spec = try Fixture.retrans.spec() }

    @Test func licenseIsGPL() {
        #expect(spec.license == "GPL")
        #expect(spec.kernelVersion == nil)
    }

    /// Seven programs: the classic tracepoint and the BTF-typed one, each writing to the perf
    /// rings or to the ring buffer, the BTF-typed SYN-ACK one for each output, and the task
    /// iterator behind the per-namespace counters.
    @Test func theSevenPrograms() throws {
        #expect(spec.programs.map(\.name)
                == ["tcp_retransmit_skb", "tcp_retransmit_skb_rb", "tcp_retransmit_btf", "tcp_retransmit_btf_rb",
                    "tcp_retransmit_synack_btf", "tcp_retransmit_synack_btf_rb", "netns_tasks"])
        let iterator = try #require(spec.program(named: "netns_tasks"))
        #expect(iterator.sectionName == "iter/task" && iterator.kind == .tracing(.iterator, target: "task"))
        #expect(iterator.kind.programType == 26 && !iterator.coreRelocations.isEmpty)
        for program in spec.programs where program.name != "netns_tasks" {
            let typed = program.name.hasSuffix("_btf") || program.name.hasSuffix("_btf_rb")
            let tracepoint = program.name.contains("synack") ? "tcp_retransmit_synack" : "tcp_retransmit_skb"
            #expect(program.sectionName == (typed ? "tp_btf/\(tracepoint)" : "tracepoint/tcp/\(tracepoint)"))
            #expect(program.kind == (typed ? .tracing(.rawTracepoint, target: tracepoint)
                                           : .tracepoint(category: "tcp", name: tracepoint)))
            #expect(program.kind.programType == (typed ? 26 : 5))
            #expect(program.entryLength == program.instructions.count, "no subprograms: everything is inlined")
            #expect(program.instructions.last?.opcode == 0x95)  // exit
            // The tp_btf programs read struct sock through CO-RE; the tracepoint ones read the record.
            #expect(program.coreRelocations.isEmpty == !typed)
        }
        #expect(spec.programs.map(\.instructions.count) == [64, 69, 169, 170, 117, 118, 63])
    }

    @Test func theMaps() throws {
        #expect(spec.maps.map(\.name) == ["ring", "netns_seen", "events", "stats", ".rodata"])
        let ring = try #require(spec.map(named: "ring"))
        #expect(ring.type == .ringBuffer && ring.keySize == 0 && ring.valueSize == 0 && ring.maxEntries == 1 << 20)
        // BPF_F_NO_PREALLOC: its 8192 entries are allocated as namespaces are seen.
        let netnsSeen = try #require(spec.map(named: "netns_seen"))
        #expect(netnsSeen.type == .hash && netnsSeen.maxEntries == 1 << 13 && netnsSeen.flags == 1)
        let events = try #require(spec.map(named: "events"))
        #expect(events.type == .perfEventArray)
        #expect(events.keySize == 4 && events.valueSize == 4 && events.maxEntries == 0)
        #expect(events.source == .btf)
        let stats = try #require(spec.map(named: "stats"))
        #expect(stats.type == .perCPUArray)
        #expect(stats.keySize == 4 && stats.valueSize == 8 && stats.maxEntries == 2)
        let btf = try #require(spec.btf)
        #expect(btf.type(id: stats.btfKeyTypeID)?.name == "__u32")
        #expect(btf.type(id: stats.btfValueTypeID)?.name == "__u64")
        let rodata = try #require(spec.map(named: ".rodata"))
        #expect(rodata.source == .dataSection)
        #expect(rodata.type == .array && rodata.keySize == 4 && rodata.valueSize == 24 && rodata.maxEntries == 1)
        #expect(rodata.flags == 0x80)
        #expect(rodata.variables == [VariableSpec(name: "tracepoint_has_err", offset: 0, size: 4),
                                     VariableSpec(name: "ring_wakeup_bytes", offset: 8, size: 8),
                                     VariableSpec(name: "retrans_event_layout", offset: 16, size: 8)])
        // tracepoint_has_err = 1, ring_wakeup_bytes = 0, retrans_event_layout = NULL.
        #expect(rodata.initialValue == [1] + [UInt8](repeating: 0, count: 23))
        #expect(btf.type(id: rodata.btfValueTypeID)?.name == ".rodata")
    }

    /// Each program uses its own output map and no other: the loader creates only those.
    @Test func relocationsNameTheirTargets() throws {
        for program in spec.programs where program.name != "netns_tasks" {
            let maps = Set(program.relocations.compactMap(\.target.mapName))
            let output = program.name.hasSuffix("_rb") ? "ring" : "events"
            #expect(maps.contains(output) && maps.contains("stats"), "\(program.name): \(maps)")
            #expect(!maps.contains(output == "ring" ? "events" : "ring"), "\(program.name): \(maps)")
            for relocation in program.relocations {
                #expect(program.instructions[relocation.instructionIndex].isLoadImmediate64)
            }
        }
        // The slots llvm-objdump -dr (and libbpf's debug log) print for the first program.
        #expect(spec.programs.first?.relocations == [
            Relocation(instructionIndex: 10, target: .mapValue(mapName: ".rodata", offset: 0)),
            Relocation(instructionIndex: 35, target: .map(name: "events")),
            Relocation(instructionIndex: 46, target: .map(name: "stats")),
            Relocation(instructionIndex: 55, target: .map(name: "stats")),
        ])
    }

    @Test func funcAndLineInfoAreInSlots() throws {
        let btf = try #require(spec.btf)
        for program in spec.programs {
            #expect(program.funcInfo.count == 1)
            #expect(program.funcInfo.first?.instructionOffset == 0)
            if let typeID = program.funcInfo.first?.typeID {
                #expect(btf.type(id: typeID)?.name == program.name)
            }
            #expect(!program.lineInfo.isEmpty)
            for line in program.lineInfo {
                #expect(Int(line.instructionOffset) < program.instructions.count)
                #expect(btf.string(at: line.fileNameOffset).map { $0.hasSuffix(".c") || $0.hasSuffix(".h") } == true)
            }
        }
    }
}
