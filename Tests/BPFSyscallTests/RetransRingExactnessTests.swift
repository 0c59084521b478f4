import BPFSyscall
import CBPFSyscall
import CRingTestSupport
import Foundation
import KernelTestSupport
import Testing

extension KernelTests {
    /// bpf/retrans.o streaming through the per-CPU perf rings, or through its BPF ring
    /// buffer, during a lossy bulk transfer between two namespaces: the events received
    /// for the test flow equal, exactly, a private ftrace instance's count of the same
    /// tracepoint.
    @Suite struct RetransRingExactnessTests {
        static let port: UInt16 = 7201
        static let onlineCPUs = (try? CPUList.online().cpus) ?? [0]
        /// tracepoint/ in both wakeup modes and both transports; tp_btf/ (the kernel's typed
        /// arguments, read with CO-RE) batched, both transports.
        static let cases: [(BulkTransfer.Family, Int, String, RingTransport)] =
            [BulkTransfer.Family.ipv4, .ipv6].flatMap { family in
                onlineCPUs.flatMap { cpu in
                    ["batched", "every-event", "tp_btf"].flatMap { mode in
                        [RingTransport.perf, .ringBuffer].map { (family, cpu, mode, $0) }
                    }
                }
            }

        /// Counts the `retrans_event`s of one flow, decoded at the offsets of the
        /// shared header as the C compiler laid it out.
        struct FlowSink: PerfEventSink, Sendable {
            static let familyOffset = MemoryLayout<retrans_event>.offset(of: \.family) ?? 16
            static let sportOffset = MemoryLayout<retrans_event>.offset(of: \.sport) ?? 18
            static let dportOffset = MemoryLayout<retrans_event>.offset(of: \.dport) ?? 20
            static let eventSize = MemoryLayout<retrans_event>.size

            let family: UInt16
            let port: UInt16
            var flowEvents = 0
            var flowEventsByCPU: [Int: Int] = [:]
            var otherEvents = 0
            var shortSamples = 0
            var lost: UInt64 = 0

            mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
                guard sample.count >= Self.eventSize else {
                    shortSamples += 1
                    return
                }
                let family = sample.loadUnaligned(fromByteOffset: Self.familyOffset, as: UInt16.self)
                let sport = sample.loadUnaligned(fromByteOffset: Self.sportOffset, as: UInt16.self)
                let dport = sample.loadUnaligned(fromByteOffset: Self.dportOffset, as: UInt16.self)
                if family == self.family && (sport == port || dport == port) {
                    flowEvents += 1
                    flowEventsByCPU[cpu, default: 0] += 1
                } else {
                    otherEvents += 1
                }
            }

            mutating func lost(cpu: Int, count: UInt64) {
                lost += count
            }
        }

        func program(_ object: borrowing LoadedObject, _ name: String) -> LoadedProgram? { object.program(named: name) }

        @Test(arguments: cases)
        func receivedEventsEqualFtraceExactly(family: BulkTransfer.Family, cpu: Int, mode: String,
                                              transport: RingTransport) throws {
            let wakeup: PerfRingWakeup = mode == "every-event" ? .everyEvent : .batched
            let base = mode == "tp_btf" ? "tcp_retransmit_btf" : "tcp_retransmit_skb"
            let programName = transport == .perf ? base : base + "_rb"
            let ringBytes: UInt32 = 1 << 20
            var constants = try TestObjects.retransConstants()
            // The ring buffer program wakes the reader once a quarter ring waits (batched) or every time.
            constants["ring_wakeup_bytes"] = .u64(wakeup == .batched ? UInt64(ringBytes / 4) : 0)
            let object = try LoadedObject(loading: try TestObjects.retrans(), options: LoadOptions(
                constants: constants, programs: [programName], maxEntries: ["ring": ringBytes]))
            let sink = FlowSink(family: family == .ipv4 ? 2 : 10, port: Self.port)
            let poller = transport == .perf
                ? try PerfEventPoller(perfEventArray: try object.requiredMap("events"),
                                      options: PerfRingOptions(wakeup: wakeup), sink: sink)
                : try PerfEventPoller(ringBuffer: try object.requiredMap("ring"), sink: sink)
            #expect(object.map(named: transport == .perf ? "ring" : "events") == nil,
                    "only the chosen program's maps are created")
            // Batched: the timer drain runs during the transfer; the final drain below collects the rest.
            let pollThread = try PollThread { try poller.run(drainInterval: wakeup == .batched ? .milliseconds(100) : nil) }
            #expect(program(object, programName)?.kind == (mode == "tp_btf"
                ? .tracing(.rawTracepoint, target: "tcp_retransmit_skb")
                : .tracepoint(category: "tcp", name: "tcp_retransmit_skb")))
            var stopped = false
            defer {
                if !stopped {
                    poller.stop()
                    try? pollThread.join()
                }
            }
            let program = try object.requiredProgram(programName)
            // Run-time statistics while this fd is held: the in-kernel cost per event in this wakeup mode.
            let statistics = try Syscalls.kernel.enableStatistics(type: BPF_STATS_RUN_TIME.rawValue)
            let attachment = try object.requiredProgram(programName).attachAnyKind()
            defer { _ = attachment }

            let name = "rtx-rg-\(family == .ipv4 ? "v4" : "v6")"
            let lab = try VethNamespaces.create(name: name, ipv4Network: "10.203.2", ipv6Network: "fd00:203::2")
            defer { lab.delete() }
            try lab.dropInbound(port: Self.port, oneIn: 10)
            let ftrace = try FtraceCounter.create(name: name, filter: FtraceCounter.portFilter(Self.port))
            defer { ftrace.remove() }

            try BulkTransfer(lab: lab, family: family, port: Self.port, bytes: 4 << 20, senderCPU: cpu).run()
            try lab.waitUntilQuiet(port: Self.port)
            lab.delete()
            let expected = try ftrace.stopAndCount()
            let info = try program.info()
            statistics.close()
            poller.stop()
            try pollThread.join()
            stopped = true
            poller.drain()
            let received = poller.withSink { $0 }
            // The program's own per-CPU counts of its emits (every flow on the host), read after the
            // drain: the program is still attached, so a retransmission elsewhere meanwhile may
            // count here without having been received.
            let stats = try object.requiredMap("stats")
            let emitted = try stats.perCPUCounters(index: UInt32(RETRANS_STAT_EMITTED.rawValue)).reduce(0) { $0 + $1.count }
            let failed = try stats.perCPUCounters(index: UInt32(RETRANS_STAT_EMIT_FAILED.rawValue)).reduce(0) { $0 + $1.count }
            let rings = poller.statistics()
            print("\(transport.rawValue) \(family.rawValue), sender on cpu \(cpu), \(mode): ftrace \(expected), received \(received.flowEvents) "
                  + "(by cpu \(received.flowEventsByCPU.sorted { $0.key < $1.key })), other flows \(received.otherEvents), "
                  + "lost \(received.lost); in-kernel \(Int(info.averageRunTimeNanoseconds ?? 0)) ns/event "
                  + "over \(info.runCount) runs (every flow on the host); host-wide: emitted \(emitted), "
                  + "failed \(failed), recursion misses \(info.recursionMisses)")

            #expect(expected > 0, "the lossy link should have caused retransmissions")
            // Everything the program emitted, on every CPU and for every flow, was received.
            let unread = Int(clamping: emitted) - (received.flowEvents + received.otherEvents)
            #expect((0...2).contains(unread), "emitted \(emitted), received \(received.flowEvents + received.otherEvents)")
            #expect(received.lost == 0)
            #expect(failed == 0)
            // And the flow's events are ftrace's count. The kernel skips a tracing
            // program (and counts a recursion miss) when the tracepoint fires while
            // another BPF tracing program runs on that CPU: other test suites load
            // programs on this host at the same time. Only those skips should explain
            // a difference; but now and then ftrace records a hit that ran no program
            // and was declared nowhere (UnrunHits). It is bounded, so that a real loss
            // still fails, and the exact identity stays visible as a known issue.
            #expect(received.flowEvents <= expected)
            let declared = received.flowEvents + Int(info.recursionMisses)
            #expect(UnrunHits.acceptable(shortfall: expected - declared, hits: expected, hostRuns: Double(emitted + failed),
                                         declaredMisses: Double(info.recursionMisses)),
                    "ftrace \(expected), received \(received.flowEvents), missed \(info.recursionMisses)")
            withKnownIssue(Comment(rawValue: UnrunHits.knownIssue), isIntermittent: true) {
                #expect(expected <= declared, "ftrace \(expected), received \(received.flowEvents), missed \(info.recursionMisses)")
            }
            #expect(received.shortSamples == 0)
            #expect(rings.allSatisfy { $0.framingErrors == 0 && $0.otherRecords == 0 })
        }
    }
}
