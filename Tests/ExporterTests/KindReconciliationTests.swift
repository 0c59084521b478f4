import Foundation
import KernelTestSupport
import Testing

/// The exporter's per-kind families reconciled with the kernel's own counters, namespace by
/// namespace: each kind provoked on purpose (`RetransmissionScenario`) while the real exporter
/// runs with `--metrics.labels src_port,dst_port,kind,netns`, then one scrape once the flow is
/// quiet. Per side of the lab (its own network namespace, label `netns`, the scenario's port in
/// `src_port`/`dst_port`), against the change of that namespace's /proc/net/snmp and netstat
/// (`count` is `tcp_retransmissions_total`, `segments` is `tcp_retransmitted_segments_total`):
///
/// - Σ segments (all kinds) == ΔRetransSegs: `__tcp_retransmit_skb` adds tcp_skb_pcount(skb),
///   `tcp_rtx_synack` 1;
/// - segments{fast} == ΔTCPFastRetrans: `tcp_xmit_retransmit_queue` outside TCP_CA_Loss;
/// - segments{timeout} == ΔTCPSlowStartRetrans + (ΔTCPTimeouts − count{syn} − count{synack}):
///   the same queue in Loss, plus the RTO's own one-segment retransmission, one per expiry of a
///   data socket's timer (SYN and SYN-ACK timer expiries count in TCPTimeouts too:
///   tcp_retransmit_timer, tcp_syn_ack_timeout);
/// - count{tlp} == ΔTCPLossProbes: while every probe re-sends the tail. `tcp_send_loss_probe`
///   counts a probe that sent new data instead (tcp_write_xmit, send head within the receive
///   window) and that is no retransmission: the synack scenario's client has its data queued
///   behind the lost handshake ACK, so there the identity is only `<=`;
/// - count{syn} + count{synack} == ΔTCPSynRetrans;
/// - segments{other} == 0; failures (err != 0) as many as ftrace recorded, none expected here
///   (every drop is in the receiver's input hook, after the sender's transmit succeeded);
/// - Σ tcp_retransmitted_segments_by_cgroup_total of the namespace == its Σ segments (that family
///   has no port label; the lab's namespaces carry nothing but the scenario's flow).
///
/// The exporter's event count per namespace must also equal what an ftrace instance recorded
/// (tcp/tcp_retransmit_skb with err == 0, plus tcp/tcp_retransmit_synack). It can fall short by
/// a few hits that ftrace recorded but that ran no program and that the kernel declares nowhere
/// (the policy of `ScrapedMetrics.expectFlowCounts`): never more than ftrace; a bounded shortfall
/// is a known intermittent issue, and only in such a run may the identities above miss (they are
/// then recorded as that known issue); with every hit counted they must all hold exactly.
///
/// The bpftrace witness runs too: a second, independent reading of the same hits. Where it and
/// the exporter both saw every hit, the exporter's per-kind figures must be the witness's hits
/// regrouped by the exporter's rule (`exporterKind`).
@Suite(.serialized, .enabled(if: RunningExporter.canRun && Command.which("python3") != nil
                             && RetransmissionKindWitness.isAvailable,
                             "needs root, python3, bpftrace and the built exporter"))
struct KindReconciliationTests {
    /// The metrics port, within this suite's 21400-21420.
    static let metricsPort: UInt16 = 21400
    static let kindNames = RetransmissionKind.allCases.map(\.description)

    @Test func timeout() throws { try reconcile(.timeout) }
    @Test func fast() throws { try reconcile(.fast) }
    @Test func tailLossProbe() throws { try reconcile(.tailLossProbe) }
    @Test func syn() throws { try reconcile(.syn) }
    @Test func synAck() throws { try reconcile(.synAck) }
    @Test func mixed() throws { try reconcile(.mixed) }
    @Test func fastIPv6() throws { try reconcile(.fast, family: .ipv6) }
    @Test func tailLossProbeIPv6() throws { try reconcile(.tailLossProbe, family: .ipv6) }

    func reconcile(_ kind: RetransmissionScenario.Kind, family: BulkTransfer.Family = .ipv4) throws {
        let scenario = RetransmissionScenario.assigned(kind, family: family)
        let name = "\(RetransmissionKind.scenarioName(kind))\(family == .ipv6 ? "/ipv6" : "")"
        let filter = FtraceCounter.portFilter(scenario.port)
        let skbTrace = try FtraceCounter.create(name: "rtx-kind-rc", filter: filter)
        defer { skbTrace.remove() }
        let synAckTrace = try FtraceCounter.create(name: "rtx-kind-rc-sa", event: "tcp_retransmit_synack", filter: filter)
        defer { synAckTrace.remove() }
        let exporter = try RunningExporter.run(port: Self.metricsPort, ["--metrics.labels", "src_port,dst_port,kind,netns"])
        defer { _ = exporter.stop() }
        try exporter.waitUntilAttached()

        // The scenario returns once no socket of the flow can retransmit and its namespaces are gone.
        let result = try scenario.run(witness: true)
        let skbHits = try skbTrace.stopAndReadHits()
        _ = try synAckTrace.stopAndCount()
        let synAckHits = try synAckTrace.lines().map(SynAckHit.init(ftraceLine:))
        let truth = LabSide.allCases.map { side in
            FtraceTruth(side: side, port: scenario.port, skbHits: skbHits, synAckHits: synAckHits)
        }
        let metrics = try Self.scrapeOnceCaughtUp(exporter, port: scenario.port, events: truth.reduce(0) { $0 + $1.events })
        let witness = try #require(result.witness)
        #expect(witness.recursionMisses == 0, "the kernel skipped runs of the witness: its maps are short")
        #expect(result.nstatMismatches.isEmpty, "nstat -asz and /proc disagree: \(result.nstatMismatches)")

        let ours: ([String: String]) -> Bool = { $0["src_port"] == "\(scenario.port)" || $0["dst_port"] == "\(scenario.port)" }
        for sample in metrics.series("tcp_retransmissions_total") where ours(sample.labels) {
            #expect(result.netns.values.contains(sample.labels["netns"] ?? ""), "a flow series outside the lab: \(sample.labels)")
            #expect(Self.kindNames.contains(sample.labels["kind"] ?? ""), "unknown kind: \(sample.labels)")
        }
        for side in LabSide.allCases {
            let netns = try #require(result.netns[side])
            let figures = ExporterFigures(metrics, netns: netns, flow: ours)
            let reconciliation = Reconciliation(kind: kind, side: side, netns: netns, exporter: figures,
                                                counters: result.counters(side), truth: truth[side.rawValue],
                                                witness: witness, witnessComplete: witness.recursionMisses == 0)
            print("KindReconciliation \(name) \(side): \(reconciliation)")
            reconciliation.check()
        }
    }

    /// Scrapes until the exporter has read every event ftrace recorded for the flow, or its count
    /// stops moving. A scrape drains the ring synchronously, but a hit still running on the
    /// other CPU may land just after it; a hit the program never saw will not come.
    static func scrapeOnceCaughtUp(_ exporter: RunningExporter, port: UInt16, events: Int) throws -> ScrapedMetrics {
        let flow: ([String: String]) -> Bool = { $0["src_port"] == "\(port)" || $0["dst_port"] == "\(port)" }
        func counted(_ metrics: ScrapedMetrics) -> Double {
            metrics.sum("tcp_retransmissions_total", where: flow) + metrics.sum("tcp_retransmission_failures_total", where: flow)
        }
        var metrics = try exporter.scrape()
        var unchangedScrapes = 0
        let deadline = Date().addingTimeInterval(10)
        while counted(metrics) < Double(events), unchangedScrapes < 4, Date() < deadline {
            usleep(250_000)
            let next = try exporter.scrape()
            unchangedScrapes = counted(next) == counted(metrics) ? unchangedScrapes + 1 : 0
            metrics = next
        }
        return metrics
    }
}

/// What ftrace recorded for one side of the lab: the sender's sockets have the port as
/// destination, the receiver's (listener, accepted socket, request socket) as source.
struct FtraceTruth {
    var succeeded: Int
    var failed: Int
    var synAcks: Int
    /// What the exporter counts in `tcp_retransmissions_total`.
    var events: Int { succeeded + synAcks }

    init(side: LabSide, port: UInt16, skbHits: [TracepointHit], synAckHits: [SynAckHit]) {
        let portText = "\(port)"
        let onSide: (String, String) -> Bool = { source, destination in
            side == .sender ? destination == portText : source == portText
        }
        let skb = skbHits.filter { onSide($0.sourcePort, $0.destinationPort) }
        failed = skb.filter { $0.err != 0 }.count
        succeeded = skb.count - failed
        synAcks = synAckHits.filter { onSide($0.sourcePort, $0.destinationPort) }.count
    }
}

/// One tcp/tcp_retransmit_synack record: `family=AF_INET sport=7964 dport=40412 saddr=...`.
struct SynAckHit {
    var sourcePort: String
    var destinationPort: String

    init(ftraceLine line: String) throws {
        guard let start = line.range(of: "tcp_retransmit_synack:") else {
            throw ExporterTestError("not a tcp_retransmit_synack record: \(line)")
        }
        var fields: [String: String] = [:]
        for token in line[start.upperBound...].split(separator: " ") {
            let parts = token.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let source = fields["sport"], let destination = fields["dport"] else {
            throw ExporterTestError("tcp_retransmit_synack record without sport/dport: \(line)")
        }
        sourcePort = source
        destinationPort = destination
    }
}

/// The exporter's figures of one namespace, per kind, from one scrape.
struct ExporterFigures {
    var count: [String: Int] = [:]
    var segments: [String: Int] = [:]
    var failures: Int
    var byCgroup: Int
    /// Σ segments of the namespace over every port: must be the flow's, nothing else runs there.
    var segmentsAnyPort: Int

    init(_ metrics: ScrapedMetrics, netns: String, flow: @escaping ([String: String]) -> Bool) {
        let inNamespace: ([String: String]) -> Bool = { $0["netns"] == netns && flow($0) }
        for kind in KindReconciliationTests.kindNames {
            count[kind] = Int(metrics.sum("tcp_retransmissions_total", where: { inNamespace($0) && $0["kind"] == kind }))
            segments[kind] = Int(metrics.sum("tcp_retransmitted_segments_total", where: { inNamespace($0) && $0["kind"] == kind }))
        }
        failures = Int(metrics.sum("tcp_retransmission_failures_total", where: inNamespace))
        byCgroup = Int(metrics.sum("tcp_retransmitted_segments_by_cgroup_total", where: { $0["netns"] == netns }))
        segmentsAnyPort = Int(metrics.sum("tcp_retransmitted_segments_total", where: { $0["netns"] == netns }))
    }

    var events: Int { count.values.reduce(0, +) }
    var allSegments: Int { segments.values.reduce(0, +) }
    func count(_ kind: RetransmissionKind) -> Int { count[kind.description] ?? 0 }
    func segments(_ kind: RetransmissionKind) -> Int { segments[kind.description] ?? 0 }

    func describe(_ values: [String: Int]) -> String {
        KindReconciliationTests.kindNames.compactMap { kind in
            let value = values[kind] ?? 0
            return value == 0 ? nil : "\(kind)=\(value)"
        }.joined(separator: " ")
    }
}

/// One side of one run: the figures and the identities between them.
struct Reconciliation: CustomStringConvertible {
    struct Identity: CustomStringConvertible {
        /// Short, for the one-line summary.
        var label: String
        var name: String
        var exporter: Int64
        var counters: Int64
        /// The kernel counts more than the exporter for a documented reason (then only `<=` is checked).
        var knownExcess: String? = nil
        var holds: Bool { exporter == counters }
        var description: String { "\(name): exporter \(exporter), counters \(counters)\(holds ? "" : " (DOES NOT HOLD)")" }
    }

    var kind: RetransmissionScenario.Kind
    var side: LabSide
    var netns: String
    var exporter: ExporterFigures
    var counters: CounterDelta
    var truth: FtraceTruth
    var witness: RetransmissionWitnessReport
    var witnessComplete: Bool

    /// The exporter missed hits ftrace recorded (the known intermittent gap), in this run and namespace.
    var exporterMissedHits: Bool { exporter.events < truth.events || exporter.failures < truth.failed }

    /// The witness's hits of this side regrouped by the exporter's rule.
    var witnessByExporterRule: [RetransmissionKind: RetransmissionTally] {
        witness.regrouped(side, by: \.exporterKind)
    }

    /// The witness's hits of this side, whatever their kind.
    var witnessEvents: Int { witnessByExporterRule.values.reduce(0) { $0 + $1.events } }

    /// Both BPF views fell short of ftrace by the same hits: the exporter's kinds and segments are
    /// the witness's, and the witness counted no failure ftrace did not.
    var witnessMissedTheSameHits: Bool {
        witnessEvents < truth.events && witness.failedCount(side) == exporter.failures
            && RetransmissionKind.allCases.allSatisfy { kind in
                (witnessByExporterRule[kind] ?? RetransmissionTally())
                    == RetransmissionTally(events: exporter.count(kind), segments: exporter.segments(kind))
            }
    }

    /// Whether the witness saw exactly what ftrace saw on this side (then it is a complete second view).
    var witnessSawEveryHit: Bool {
        witnessComplete && witness.failedCount(side) == truth.failed
            && witnessByExporterRule.values.reduce(0) { $0 + $1.events } == truth.events
    }

    var identities: [Identity] {
        func value(_ key: String) -> Int64 { counters[key] }
        let syn = Int64(exporter.count(.syn)), synAck = Int64(exporter.count(.synAck))
        let probesMaySendNewData = kind == .synAck && side == .sender
        // Seen once in CI (mixed): ftrace 68 hits, the exporter 68, TCPLossProbes 1 and no probe among them.
        let countedEveryHit = !exporterMissedHits && exporter.events == truth.events
        // A retransmission failing inside tcp_transmit_skb (a local qdisc or netfilter drop) has
        // moved RetransSegs already, and an RTO expiry counts TCPTimeouts before it retransmits.
        let failedAfterCounting = truth.failed > 0
            ? "\(truth.failed) retransmissions failed; one failing in tcp_transmit_skb counts in RetransSegs (and an RTO's "
                + "in TCPTimeouts) but is a failure here, without segments" : nil
        return [
            Identity(label: "RetransSegs", name: "Σsegments == ΔRetransSegs", exporter: Int64(exporter.allSegments),
                     counters: value("Tcp.RetransSegs"), knownExcess: failedAfterCounting),
            Identity(label: "fast", name: "segments{fast} == ΔTCPFastRetrans", exporter: Int64(exporter.segments(.fast)),
                     counters: value("TcpExt.TCPFastRetrans")),
            Identity(label: "timeout", name: "segments{timeout} == ΔTCPSlowStartRetrans + ΔTCPTimeouts − count{syn} − count{synack}",
                     exporter: Int64(exporter.segments(.timeout)),
                     counters: value("TcpExt.TCPSlowStartRetrans") + value("TcpExt.TCPTimeouts") - syn - synAck,
                     knownExcess: failedAfterCounting),
            Identity(label: "tlp", name: "count{tlp} == ΔTCPLossProbes", exporter: Int64(exporter.count(.tailLossProbe)),
                     counters: value("TcpExt.TCPLossProbes"),
                     knownExcess: probesMaySendNewData
                        ? "the client's probe during the lost handshake ACK sent new data (tcp_send_loss_probe: "
                            + "tcp_write_xmit, counted in TCPLossProbes, no retransmission)"
                        : countedEveryHit
                            ? "every hit ftrace recorded was counted: a loss probe that sent new data instead "
                                + "(tcp_send_loss_probe: tcp_write_xmit) counts in TCPLossProbes with no retransmission"
                            : nil),
            Identity(label: "syn+synack", name: "count{syn} + count{synack} == ΔTCPSynRetrans", exporter: syn + synAck,
                     counters: value("TcpExt.TCPSynRetrans")),
            Identity(label: "other", name: "segments{other} == 0", exporter: Int64(exporter.segments(.other)), counters: 0),
            Identity(label: "failures", name: "failures == ftrace's err != 0", exporter: Int64(exporter.failures),
                     counters: Int64(truth.failed)),
            Identity(label: "by_cgroup", name: "Σby_cgroup == Σsegments", exporter: Int64(exporter.byCgroup),
                     counters: Int64(exporter.allSegments)),
            Identity(label: "any-port", name: "Σsegments any port == Σsegments of the port",
                     exporter: Int64(exporter.segmentsAnyPort), counters: Int64(exporter.allSegments)),
        ]
    }

    var description: String {
        let witnessKinds = RetransmissionKind.allCases.compactMap { kind -> String? in
            guard let tally = witnessByExporterRule[kind], tally.events > 0 else { return nil }
            return "\(kind)=\(tally.events)/\(tally.segments)"
        }.joined(separator: " ")
        let counterFigures = ["Tcp.RetransSegs", "TcpExt.TCPFastRetrans", "TcpExt.TCPSlowStartRetrans", "TcpExt.TCPTimeouts",
                              "TcpExt.TCPLossProbes", "TcpExt.TCPSynRetrans", "TcpExt.TCPRetransFail"]
            .map { "\($0.split(separator: ".").last ?? "")=\(counters[$0])" }.joined(separator: " ")
        return """
            netns \(netns); ftrace \(truth.succeeded) skb + \(truth.synAcks) synack (+\(truth.failed) failed); \
            exporter count{\(exporter.describe(exporter.count))} segments{\(exporter.describe(exporter.segments))} \
            failures=\(exporter.failures) by_cgroup=\(exporter.byCgroup); counters \(counterFigures); \
            witness (exporter's rule, events/segments) \(witnessKinds.isEmpty ? "none" : witnessKinds)\
            \(witnessSawEveryHit ? "" : " [incomplete]"); identities: \
            \(identities.map { $0.holds ? "\($0.label) holds" : "\($0.label) FAILS (\($0))" }.joined(separator: "; "))
            """
    }

    func check() {
        // Never more than happened.
        #expect(exporter.events <= truth.events && exporter.failures <= truth.failed,
                "\(side): ftrace \(truth.events) + \(truth.failed) failed, exporter \(exporter.events) + \(exporter.failures)")
        // A shortfall past the usual few is still the known gap when the bpftrace witness, a BPF
        // program of its own, missed exactly the same hits: then those hits ran no BPF program at
        // all (seen once in CI: 6 of a timeout flow's 10 hits, by both). A miss of the exporter's
        // alone fails here.
        #expect(truth.events - exporter.events <= UnrunHits.tolerated(hits: truth.events) || witnessMissedTheSameHits,
                "\(side): ftrace \(truth.events), exporter \(exporter.events), witness \(witnessEvents): more than the known gap")
        #expect(exporter.allSegments <= Int(counters["Tcp.RetransSegs"]), "\(side): more segments than the kernel's")
        // The always-on family and the port filter see the same events whatever the gap.
        #expect(exporter.byCgroup == exporter.allSegments, "\(side): by-cgroup \(exporter.byCgroup), flow \(exporter.allSegments)")
        #expect(exporter.segmentsAnyPort == exporter.allSegments, "\(side): a retransmission in the lab not on its port")

        guard !exporterMissedHits else {
            withKnownIssue(Comment(rawValue: UnrunHits.knownIssue), isIntermittent: true) {
                #expect(exporter.events == truth.events && exporter.failures == truth.failed,
                        "\(side): ftrace \(truth.events) + \(truth.failed) failed, exporter \(exporter.events) + \(exporter.failures)")
                for identity in identities {
                    #expect(identity.holds, "\(side), with hits missed: \(identity)")
                }
            }
            return
        }
        for identity in identities {
            if let reason = identity.knownExcess, identity.exporter < identity.counters {
                withKnownIssue("\(reason)", isIntermittent: true) {
                    #expect(identity.holds, "\(side): \(identity)")
                }
            } else {
                #expect(identity.holds, "\(side): \(identity)\n\(self)")
            }
        }
        // With the witness complete too, its hits regrouped by the exporter's rule are the exporter's kinds.
        if witnessSawEveryHit {
            for kind in RetransmissionKind.allCases {
                let witnessed = witnessByExporterRule[kind] ?? RetransmissionTally()
                #expect(witnessed == RetransmissionTally(events: exporter.count(kind), segments: exporter.segments(kind)),
                        "\(side) \(kind): witness \(witnessed), exporter \(exporter.count(kind)) events/\(exporter.segments(kind)) segs")
            }
        }
    }
}

extension RetransmissionSocketState {
    /// bpf/retrans.c `retransmission_kind`, in its order: SYN flag; Loss; Recovery; a loss probe
    /// pending while the retransmit timer's own handler runs; Open is other; Disorder and CWR fast.
    var exporterKind: RetransmissionKind {
        if syn { return .syn }
        if caState == 4 { return .timeout }
        if caState == 3 { return .fast }
        if pending == 5 && !timerArmed { return .tailLossProbe }
        return caState == 0 ? .other : .fast
    }
}

extension RetransmissionKind {
    /// The name a `KindReconciliation` line gives a scenario: its kind's label value.
    static func scenarioName(_ kind: RetransmissionScenario.Kind) -> String {
        switch kind {
        case .timeout: "timeout"
        case .fast: "fast"
        case .tailLossProbe: "tlp"
        case .syn: "syn"
        case .synAck: "synack"
        case .mixed: "mixed"
        }
    }
}
