import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// Loss is counted, never hidden: the real exporter, overloaded on purpose.
///
/// The object is Fixtures/overload_producer.o (the exporter's maps and program name,
/// attached to syscalls/sys_enter_getppid, producing only for threads named
/// `rtx-hd-burst`), the rings one page each, the burst a few hundred thousand
/// getppid(2) calls per CPU. What must hold, and when:
///
/// - every successful `bpf_perf_event_output` leaves a record that the exporter
///   reads: after a drain, `events_received == bpf_emitted`, exactly, always;
/// - every failed one (ring full) adds one to the ring's lost count, but the kernel
///   writes that count into the ring (`PERF_RECORD_LOST`) only in front of the next
///   record that fits on the same CPU. So `sum(samples_lost) <= bpf_emit_failed`
///   right after a burst, and `==` once each CPU has written one more record into
///   an emptied ring: the test sends that one record per CPU, then checks equality.
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct LossAccountingTests {
    static let object = TestPaths.repositoryRoot + "/Tests/BPFSyscallTests/Fixtures/overload_producer.o"
    static let port = 7788  // overload_producer.c's dport

    /// getppid(2) `count` times from a process pinned to `cpu`, named so that the producer emits.
    static func burst(cpu: Int, count: Int) throws -> BackgroundCommand {
        try Command.start(["python3", "-c", """
            import ctypes, os, sys
            os.sched_setaffinity(0, {\(cpu)})
            ctypes.CDLL(None).prctl(15, b"rtx-hd-burst", 0, 0, 0)  # PR_SET_NAME
            for _ in range(\(count)):
                os.getppid()
            """])
    }

    /// perf: a full ring drops the record and the kernel reports it (PERF_RECORD_LOST) in front
    /// of that CPU's next one. ringbuf: a full ring fails the program's reserve, which it counts;
    /// there is nothing to report in the ring, so no samples_lost family.
    @Test(arguments: ["perf", "ringbuf"])
    func receivedPlusLostEqualsEmittedUnderOverload(kind: String) throws {
        let cpus = try CPUList.online().cpus
        let exporter = try RunningExporter(port: 21362, arguments: ["--bpf.object", Self.object, "--ring.pages", "1",
                                                                    "--ring.kind", kind])
        defer { exporter.stop() }
        try exporter.waitForLog()

        // The overload: every CPU at once, while being scraped.
        let bursts = try cpus.map { try Self.burst(cpu: $0, count: 200_000) }
        var scrapesDuringBurst = 0
        while bursts.contains(where: \.isRunning) {
            _ = try exporter.scrape()
            scrapesDuringBurst += 1
        }
        for burst in bursts { #expect(try burst.wait(timeout: 120).succeeded) }
        #expect(scrapesDuringBurst > 0)

        let afterBurst = try exporter.scrape()
        let received = try #require(afterBurst.value("retrans_exporter_events_received_total"))
        let emitted = try #require(afterBurst.value("retrans_exporter_bpf_emitted_total"))
        let failed = try #require(afterBurst.value("retrans_exporter_bpf_emit_failed_total"))
        let lost = afterBurst.sum("retrans_exporter_samples_lost_total")
        #expect(failed > 100_000, "a 4 KiB ring must overflow under \(200_000 * cpus.count) events: \(afterBurst)")
        #expect(received == emitted, "\(afterBurst)")
        #expect(lost <= failed, "\(afterBurst)")
        if kind == "ringbuf" {
            #expect(afterBurst.series("retrans_exporter_samples_lost_total").isEmpty, "\(afterBurst)")
            #expect(exporter.log.contains("ring buffer: one of 4 KiB for every CPU"), "\(exporter.log)")
        }
        print("after the burst: emitted \(Int(emitted)), received \(Int(received)), failed \(Int(failed)),"
              + " lost reported \(Int(lost)) (\(Int(failed - lost)) waiting for a next record)")

        // One record per CPU into the emptied ring carries each CPU's pending lost count.
        for cpu in cpus { #expect(try Self.burst(cpu: cpu, count: 1).wait(timeout: 60).succeeded) }
        let settled = try exporter.scrape()
        let finalReceived = try #require(settled.value("retrans_exporter_events_received_total"))
        let finalEmitted = try #require(settled.value("retrans_exporter_bpf_emitted_total"))
        let finalFailed = try #require(settled.value("retrans_exporter_bpf_emit_failed_total"))
        let finalLost = settled.sum("retrans_exporter_samples_lost_total")
        #expect(finalEmitted == emitted + Double(cpus.count))
        #expect(finalFailed == failed)
        #expect(finalReceived == finalEmitted, "\(settled)")
        #expect(finalLost == (kind == "perf" ? finalFailed : 0), "\(settled)")
        // Every received record is in a series (none failed to decode).
        #expect(settled.value("retrans_exporter_decode_errors_total") == 0)
        #expect(settled.sum("tcp_retransmissions_total", where: { $0["dst_port"] == "\(Self.port)" }) == finalReceived)
        for cpu in cpus where kind == "perf" {
            #expect(settled.series("retrans_exporter_samples_lost_total").contains { $0.labels["cpu"] == "\(cpu)" })
        }
        print("settled: emitted \(Int(finalEmitted)) = received \(Int(finalReceived)); failed \(Int(finalFailed))"
              + " = lost \(Int(finalLost)); \(scrapesDuringBurst) scrapes served during the burst")
        #expect(exporter.stop().status == 0, "\(exporter.log)")
    }

    /// The loss no ring can show: a tracepoint hit while another BPF program runs on the same
    /// CPU (here the overload producer, busy on every CPU) is skipped by the kernel and counted
    /// only in the program's `recursion_misses`. The exporter exports it, so that every hit
    /// ftrace saw is either counted or declared missed.
    @Test func hitsSkippedWhileAnotherBPFProgramRunsAreCountedAsMisses() throws {
        let port: UInt16 = 7713
        let lab = try VethNamespaces.create(name: "rtx-hd-miss", ipv4Network: "10.203.7", ipv6Network: "fd00:203::7")
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: 10)
        // Every hit on the host, over a window that contains the exporter's whole life: if they
        // are all the test flow's, the identity below must hold exactly.
        let everything = try FtraceCounter.create(name: "rtx-hd-miss-all", filter: nil, bufferKilobytesPerCPU: 8192)
        defer { everything.remove() }
        let ftrace = try FtraceCounter.create(name: "rtx-hd-miss", filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }

        let exporter = try RunningExporter(port: 21367)
        defer { exporter.stop() }
        try exporter.waitForLog()
        let busy = try RunningExporter(port: 21368, arguments: ["--bpf.object", Self.object])
        defer { busy.stop() }
        try busy.waitForLog()
        let cpus = try CPUList.online().cpus
        let bursts = try cpus.map { try Self.burst(cpu: $0, count: 30_000_000) }
        defer { for burst in bursts { burst.kill() } }

        // Misses need a retransmission from an interrupt (a timer, an ACK) landing while the other
        // program runs: a few percent of hits here, so keep lossy traffic going for a while.
        let started = Date()
        var transfers = 0
        while Date().timeIntervalSince(started) < 15 {
            try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 8 << 20).run()
            transfers += 1
        }
        // Quiet before either count stops: a hit after the scrape would be ftrace's alone.
        try lab.waitUntilQuiet(port: port)
        lab.delete()
        let metrics = try exporter.scrape()
        // The kernel's own count of the runs it skipped, read while the exporter still holds them.
        let kernelMisses = try HeldKernelObjects.held(by: exporter.pid).recursionMisses()
        #expect(exporter.stop().status == 0)
        let all = try everything.stopAndCount()
        let hits = try ftrace.stopAndCount()
        let truth = try ftrace.retransmissions()

        let flow: ([String: String]) -> Bool = { $0["src_port"] == "\(port)" || $0["dst_port"] == "\(port)" }
        let counted = metrics.sum("tcp_retransmissions_total", where: flow)
            + metrics.sum("tcp_retransmission_failures_total", where: flow)
        let misses = try #require(metrics.value("retrans_exporter_bpf_recursion_misses_total"), "\(metrics)")
        // The exporter reports the kernel's figure (read just after; a miss elsewhere in between may add one or two).
        #expect(Double(kernelMisses) >= misses && Double(kernelMisses) - misses <= 2,
                "exported \(misses) recursion misses, the kernel's programs \(kernelMisses)")
        #expect(metrics.sum("retrans_exporter_samples_lost_total") == 0)
        metrics.expectEveryWrittenRecordRead()
        #expect(truth.succeeded + truth.failed == hits)
        // What was counted happened; what happened and was not counted, the kernel declared missed.
        #expect(counted <= Double(hits))
        // The same known, unexplained gap as everywhere (UnrunHits): now and then ftrace records
        // hits that ran no program and were declared nowhere. Bounded, so that a real loss still
        // fails; the identity itself stays visible.
        let shortfall = Double(hits) - (counted + misses)
        let hostRuns = metrics.programRuns
        #expect(UnrunHits.acceptable(shortfall: Int(shortfall), hits: hits, hostRuns: hostRuns, declaredMisses: misses),
                "\(hits) hits, \(counted) counted, \(misses) declared missed, program runs \(hostRuns)")
        withKnownIssue(Comment(rawValue: UnrunHits.knownIssue), isIntermittent: true) {
            #expect(Double(hits) <= counted + misses, "\(hits) hits, \(counted) counted, \(misses) declared missed")
            if all == hits {
                #expect(Double(hits) == counted + misses, "no other traffic: every hit is counted or missed")
            }
        }
        print("recursion misses: \(transfers) transfers, flow \(port) \(hits) hits (ftrace) = \(Int(counted)) counted"
              + " + \(Int(misses)) missed"
              + (all == hits ? "" : " (at most: \(all - hits) other hits on the host meanwhile)"))
    }
}
