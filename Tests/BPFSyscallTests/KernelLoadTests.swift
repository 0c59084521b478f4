import Testing
import Foundation
import ELFReader
import KernelTestSupport
@testable import BPFSyscall

extension KernelTests {
    /// Loading bpf/retrans.o into the real kernel, with bpftool and /proc as witnesses.
    @Suite struct Loading {
        @Test func loadsRetransWithBTFAttachesAndLeavesNothingOnClose() throws {
            let spec = try TestObjects.retrans()
            let descriptorsBefore = KernelWitness.openBPFDescriptors()
            let object = try LoadedObject(loading: spec, options: LoadOptions(constants: TestObjects.retransConstants()))
            #expect(object.btfStatus == .loaded)
            #expect(object.warnings == [])
            let program = try object.requiredProgram("tcp_retransmit_skb")
            let info = try program.info()
            #expect(program.hasBTF)
            #expect(info.name == "tcp_retransmit_", "the kernel keeps 15 bytes of the name")
            #expect(info.btfID != 0)
            #expect(info.funcInfoCount == UInt32(spec.programs[0].funcInfo.count))
            #expect(info.lineInfoCount == UInt32(spec.programs[0].lineInfo.count))
            #expect(info.type == 5, "BPF_PROG_TYPE_TRACEPOINT")
            let mapIDs = try object.maps.map { try Syscalls.kernel.mapInfo($0.fd).id }

            let attachment = try object.attach(program: "tcp_retransmit_skb")
            #expect(attachment.method == .perfLink)

            // bpftool, independently: the program (full name from its BTF), and a perf link to it.
            let listed = try Bpftool.programs().first { $0.int("id") == Int(info.id) }
            #expect(listed?.string("name") == "tcp_retransmit_skb")
            #expect(listed?.string("type") == "tracepoint")
            let links = try Bpftool.links().filter { $0.int("prog_id") == Int(info.id) }
            #expect(links.count == 1)
            #expect(links.first?.string("type") == "perf_event")

            attachment.close()
            #expect(try Bpftool.links().allSatisfy { $0.int("prog_id") != Int(info.id) }, "closing the attachment detaches")
            object.close()

            #expect(try KernelWitness.programIsGone(info.id), "program id \(info.id) still loaded after close")
            #expect(try Bpftool.programs().allSatisfy { $0.int("id") != Int(info.id) })
            for id in mapIDs { #expect(try KernelWitness.mapIsGone(id), "map id \(id) still exists after close") }
            #expect(KernelWitness.openBPFDescriptors() == descriptorsBefore)
        }

        /// The fast path: a good object loads in one call each, without a verifier log.
        @Test func goodObjectLoadsFirstTimeWithoutALog() throws {
            let spy = LoadSpy()
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants(), syscalls: spy.syscalls))
            // All seven programs (tracepoint/ and tp_btf/, perf rings and ring buffer, tp_btf's
            // SYN-ACK ones, and the task iterator), one call each.
            #expect(object.programs.count == 7)
            let programLoads = spy.programLoads.withLock { $0 }
            let btfLoads = spy.btfLoads.withLock { $0 }
            #expect(programLoads.count == 7 && programLoads.allSatisfy { $0.logSize == 0 && $0.result >= 0 })
            #expect(btfLoads.count == 1 && btfLoads.allSatisfy { $0.logSize == 0 && $0.result >= 0 })
        }

        @Test func rodataHoldsTheConstantAndIsFrozen() throws {
            let spec = try TestObjects.retrans()
            for hasErr: UInt32 in [0, 1] {
                let object = try LoadedObject(loading: spec, options: LoadOptions(constants: ["tracepoint_has_err": .u32(hasErr)]))
                let rodata = try object.requiredMap(".rodata")
                // The constant is at offset 0 (the rest of .rodata holds retrans_event_layout).
                #expect(try rodata.lookup(key: [0, 0, 0, 0])?.prefix(4) == ArraySlice(LoadedMap.littleEndian(hasErr)))
                // The kernel says frozen (fdinfo), and refuses writes from user space.
                #expect(try KernelWitness.fdinfo(rodata.fd)["frozen"] == "1")
                #expect(throws: (any Error).self) {
                    try rodata.update(key: [0, 0, 0, 0], value: [UInt8](repeating: 9, count: Int(rodata.spec.valueSize)))
                }
                let info = try Syscalls.kernel.mapInfo(rodata.fd)
                #expect(info.flags & 0x80 != 0, "BPF_F_RDONLY_PROG")
                #expect(info.btfID != 0)
            }
        }

        @Test func perfEventArrayGetsASlotPerPossibleCPU() throws {
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants()))
            let events = try object.requiredMap("events")
            let info = try Syscalls.kernel.mapInfo(events.fd)
            #expect(info.maxEntries == UInt32(try CPUList.possible().slotCount))
            #expect(info.type == MapType.perfEventArray.rawValue)
            // bpftool agrees.
            let listed = try Bpftool.maps().first { $0.int("id") == Int(info.id) }
            #expect(listed?.int("max_entries") == Int(info.maxEntries))
            // What the perf rings do: store a BPF-output perf event's fd at index `cpu`.
            let output = try Syscalls.kernel.openPerfEvent(PerfEventOpenRequest(
                type: 1 /* PERF_TYPE_SOFTWARE */, config: 10 /* PERF_COUNT_SW_BPF_OUTPUT */,
                sampleType: 1 << 10 /* PERF_SAMPLE_RAW */, samplePeriod: 1, wakeup: 1, cpu: 0))
            try events.update(index: 0, value: UInt32(output.rawValue))
            // The kernel checks it is given a perf event: a map fd is refused.
            let stats = try object.requiredMap("stats")
            #expect(throws: (any Error).self) { try events.update(index: 1, value: UInt32(stats.fd)) }
            let counters = try stats.perCPUCounters(index: 0)
            #expect(counters.map(\.cpu) == (try CPUList.possible().cpus))
            #expect(counters.allSatisfy { $0.count == 0 })
        }

        @Test func handBuiltObjectLoadsWithoutBTF() throws {
            let object = try LoadedObject(loading: HandBuilt.retransLikeObject())
            #expect(object.btfStatus == .absent)
            let program = try object.requiredProgram("tcp_retransmit_skb")
            #expect(!program.hasBTF)
            #expect(try program.info().btfID == 0)
        }

        @Test func rejectedBTFFallsBackToLoadingWithoutIt() throws {
            var spec = try TestObjects.retrans()
            var btf = try #require(spec.btf)
            // A wrong magic: the kernel refuses the whole BTF blob.
            btf.kernelBytes[0] = 0
            btf.kernelBytes[1] = 0
            spec.btf = btf
            let object = try LoadedObject(loading: spec, options: LoadOptions(constants: TestObjects.retransConstants()))
            guard case .rejected(let reason) = object.btfStatus else {
                Issue.record("BTF status \(object.btfStatus)")
                return
            }
            #expect(reason.contains("BTF"))
            #expect(object.warnings.count == 1)
            let program = try object.requiredProgram("tcp_retransmit_skb")
            #expect(!program.hasBTF)
            #expect(try program.info().btfID == 0)
            #expect(try program.info().lineInfoCount == 0)
            #expect(object.maps.allSatisfy { !$0.hasBTF })
            let attachment = try program.attach()
            attachment.close()
        }

        /// A kernel that refuses a map's BTF type ids (EINVAL) still gets the map, without them.
        @Test func mapBTFRefusalFallsBackToAPlainMap() throws {
            var syscalls = Syscalls.kernel
            syscalls.mapCreate = { request in request.btfFD != 0 ? -EINVAL : Syscalls.kernel.mapCreate(request) }
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants(), syscalls: syscalls))
            let stats = try object.requiredMap("stats")
            #expect(!stats.hasBTF)
            #expect(try Syscalls.kernel.mapInfo(stats.fd).btfID == 0)
            #expect(object.warnings.contains { $0.hasPrefix("map `stats`: kernel rejected its BTF type ids") })
            let attachment = try object.attach(program: "tcp_retransmit_skb")
            attachment.close()
        }

        @Test func mapsAreCreatedWithBTFTypeIDs() throws {
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants()))
            let stats = try object.requiredMap("stats")
            #expect(stats.hasBTF)
            let listed = try Bpftool.maps().first { $0.int("id") == Int(try Syscalls.kernel.mapInfo(stats.fd).id) }
            #expect(listed?.int("btf_id") != nil && listed?.int("btf_id") != 0)
        }
    }
}
