import Testing
@testable import ELFReader

/// Fixtures/multi.c: three programs sharing .text subprograms, global data, two maps.
@Suite struct MultiObjectTests {
    let spec: ObjectSpec

    init() throws { spec = try Fixture.multi.spec() }

    @Test func programsInSectionOrder() {
        #expect(spec.programs.map(\.name) == ["on_getppid", "on_getpid", "on_getpid_too"])
        #expect(spec.programs.map(\.kind) == [
            .tracepoint(category: "syscalls", name: "sys_enter_getppid"),
            .tracepoint(category: "syscalls", name: "sys_enter_getpid"),  // from the `tp/` spelling
            .tracepoint(category: "syscalls", name: "sys_enter_getpid"),
        ])
        // record_call is global but lives in .text: a subprogram, not an entry point.
        #expect(spec.program(named: "record_call") == nil)
    }

    /// on_getppid calls record_call (via an R_BPF_64_32 relocation), which
    /// calls the static weigh (an in-section call with no relocation).
    @Test func subprogramsAreAppendedTransitivelyAndCallsRelinked() throws {
        let program = try #require(spec.program(named: "on_getppid"))
        #expect(program.entryLength == 15)
        #expect(program.instructions.count == 15 + 38 + 5)
        let calls = program.relocations.filter { if case .call = $0.target { return true } else { return false } }
        #expect(calls == [
            Relocation(instructionIndex: 13, target: .call(function: "record_call", targetIndex: 15)),
            Relocation(instructionIndex: 48, target: .call(function: "weigh", targetIndex: 53)),
        ])
        // imm = target - (call + 1), as the kernel computes bpf-to-bpf calls.
        for call in calls {
            guard case .call(_, let target) = call.target else { continue }
            #expect(Int(program.instructions[call.instructionIndex].imm) == target - (call.instructionIndex + 1))
            #expect(program.instructions[call.instructionIndex].isFunctionCall)
        }
        // The copied body of record_call keeps its own map relocations, shifted.
        #expect(program.relocations.contains(Relocation(instructionIndex: 20, target: .map(name: "calls_by_cpu"))))
        #expect(program.relocations.contains(Relocation(instructionIndex: 40, target: .map(name: "totals"))))
        #expect(program.relocations.contains(Relocation(instructionIndex: 53, target: .mapValue(mapName: ".rodata", offset: 0))))
    }

    /// on_getpid calls weigh through the `.text` section symbol (imm 37 =
    /// offset), and record_call calls it again: weigh is appended once.
    @Test func sectionSymbolCallsResolveAndCalleesAreShared() throws {
        let program = try #require(spec.program(named: "on_getpid"))
        #expect(program.instructions.count == 9 + 38 + 5)
        let calls = program.relocations.compactMap { relocation -> String? in
            guard case .call(let name, let target) = relocation.target else { return nil }
            return "\(relocation.instructionIndex)->\(name)@\(target)"
        }
        #expect(calls == ["2->record_call@9", "5->weigh@47", "42->weigh@47"])
    }

    @Test func funcInfoFollowsTheLinkedLayout() throws {
        let program = try #require(spec.program(named: "on_getppid"))
        let btf = try #require(spec.btf)
        let functions = program.funcInfo.map { "\($0.instructionOffset):\(btf.type(id: $0.typeID)?.name ?? "?")" }
        #expect(functions == ["0:on_getppid", "15:record_call", "53:weigh"])
        // Every line_info points inside the program, in order.
        let offsets = program.lineInfo.map(\.instructionOffset)
        #expect(offsets == offsets.sorted())
        #expect(offsets.allSatisfy { Int($0) < program.instructions.count })
        #expect(offsets.contains { $0 >= 53 })  // weigh's lines came along
    }

    @Test func mapsOfEveryKind() throws {
        #expect(spec.maps.map(\.name) == ["calls_by_cpu", "totals", ".rodata", ".data", ".bss"])
        let hash = try #require(spec.map(named: "calls_by_cpu"))
        #expect(hash.type == .hash && hash.keySize == 4 && hash.valueSize == 8 && hash.maxEntries == 64)
        let array = try #require(spec.map(named: "totals"))
        #expect(array.type == .array && array.keySize == 4 && array.valueSize == 16 && array.maxEntries == 1)
        #expect(spec.btf?.type(id: array.btfValueTypeID)?.name == "totals")

        let rodata = try #require(spec.map(named: ".rodata"))
        #expect(rodata.initialValue == [3, 0, 0, 0] && rodata.flags == 0x80)
        let data = try #require(spec.map(named: ".data"))
        #expect(data.initialValue == [99, 0, 0, 0, 0, 0, 0, 0] && data.flags == 0)
        #expect(data.variables == [VariableSpec(name: "last_cpu", offset: 0, size: 8)])
        let bss = try #require(spec.map(named: ".bss"))
        #expect(bss.initialValue == [UInt8](repeating: 0, count: 8))
        #expect(bss.variables == [VariableSpec(name: "hits", offset: 0, size: 8)])
        for map in [rodata, data, bss] {
            #expect(map.source == .dataSection && map.type == .array && map.maxEntries == 1)
            #expect(spec.btf?.type(id: map.btfValueTypeID)?.name == map.name)
        }
    }
}

/// Fixtures/legacy_maps.c: `struct bpf_map_def` in a `maps` section.
@Suite struct LegacyMapsTests {
    @Test func legacyDefinitionsAreRead() throws {
        let spec = try Fixture.legacyMaps.spec()
        #expect(spec.license == "Dual BSD/GPL")
        #expect(spec.maps == [
            MapSpec(name: "calls_by_cpu", type: .hash, keySize: 4, valueSize: 8, maxEntries: 128, flags: 1, source: .legacy),
            MapSpec(name: "total_calls", type: .array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0, source: .legacy),
        ])
        let program = try #require(spec.program(named: "count_getppid"))
        #expect(program.relocations == [
            Relocation(instructionIndex: 6, target: .map(name: "total_calls")),
            Relocation(instructionIndex: 15, target: .map(name: "calls_by_cpu")),
            Relocation(instructionIndex: 27, target: .map(name: "calls_by_cpu")),
        ])
        // The atomic add survives decoding and reads as llvm-objdump prints it.
        #expect(Disassembler.format(program.instructions[10]) == "lock *(u64 *)(r0 + 0) += r6")
    }
}

/// The section-name conventions for program types.
@Suite struct ProgramKindTests {
    @Test(arguments: [
        ("tracepoint/tcp/tcp_retransmit_skb", ProgramKind.tracepoint(category: "tcp", name: "tcp_retransmit_skb")),
        ("tp/sched/sched_switch", .tracepoint(category: "sched", name: "sched_switch")),
        ("tracepoint/tcp", .unknown),
        ("tracepoint//x", .unknown),
        ("kprobe/tcp_retransmit_skb", .unknown),
        (".text", .unknown),
    ])
    func sectionNames(_ name: String, _ kind: ProgramKind) {
        #expect(ProgramKind(sectionName: name) == kind)
    }
}
