import Foundation
import KernelTestSupport
import Testing

/// Ground truth for a per-kind retransmission count: each kind provoked on purpose
/// (`RetransmissionScenario`), the kernel's own counters of both namespaces around it, and
/// bpftrace applying the proposed in-kernel rule at tcp:tcp_retransmit_skb
/// (`RetransmissionKindWitness`). Where the rule and the counters must agree (per namespace,
/// successful retransmissions only; the kernel source is net/ipv4/tcp_output.c and tcp_timer.c):
///
/// - all segments, SYN-ACKs included == ΔRetransSegs: __tcp_retransmit_skb adds
///   tcp_skb_pcount(skb) (= `tcp_gso_segs` at the tracepoint) and tcp_rtx_synack 1;
/// - `fast` segments == ΔTCPFastRetrans: tcp_xmit_retransmit_queue outside TCP_CA_Loss;
/// - `timeout` segments == ΔTCPSlowStartRetrans (the same loop in TCP_CA_Loss) + the RTO timer's
///   own retransmissions, one segment each. TCPTimeouts counts those, but also SYN timeouts
///   (tcp_retransmit_timer) and SYN-ACK timeouts (tcp_syn_ack_timeout), so they are taken out:
///   ΔTCPTimeouts − count(syn) − count(synack);
/// - count(`tlp`) == ΔTCPLossProbes, while every probe is a retransmission (nothing new to send);
/// - count(`syn`) + count(`synack`) == ΔTCPSynRetrans.
///
/// Each identity is checked for the proposed rule and for two variants of its `tlp` test; the
/// figures are printed (`KindGroundTruth ...` lines) for the choice of the exporter's rule.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot && RetransmissionKindWitness.isAvailable,
                             "needs root and bpftrace"))
struct KindGroundTruthTests {
    /// One identity: what the witness counted against what the kernel's counters say.
    struct Identity: CustomStringConvertible {
        var name: String
        var side: LabSide
        var witnessed: Int64
        var counted: Int64
        var holds: Bool { witnessed == counted }
        var description: String { "\(side) \(name): witness \(witnessed), counters \(counted)" }
    }

    static func identities(_ result: RetransmissionScenarioResult, side: LabSide,
                           kinds: [RetransmissionKind: RetransmissionTally], rtoItself: Int) -> [Identity] {
        let counters = result.counters(side)
        func segments(_ kind: RetransmissionKind) -> Int64 { Int64(kinds[kind]?.segments ?? 0) }
        func events(_ kind: RetransmissionKind) -> Int64 { Int64(kinds[kind]?.events ?? 0) }
        let allSegments = kinds.values.reduce(0) { $0 + Int64($1.segments) }
        let dataTimeouts = counters["TcpExt.TCPTimeouts"] - events(.syn) - events(.synAck)
        return [
            Identity(name: "Σsegments == ΔRetransSegs", side: side, witnessed: allSegments,
                     counted: counters["Tcp.RetransSegs"]),
            Identity(name: "fast segments == ΔTCPFastRetrans", side: side, witnessed: segments(.fast),
                     counted: counters["TcpExt.TCPFastRetrans"]),
            Identity(name: "timeout segments == ΔTCPSlowStartRetrans + (ΔTCPTimeouts − syn − synack)", side: side,
                     witnessed: segments(.timeout), counted: counters["TcpExt.TCPSlowStartRetrans"] + dataTimeouts),
            Identity(name: "count(tlp) == ΔTCPLossProbes", side: side, witnessed: events(.tailLossProbe),
                     counted: counters["TcpExt.TCPLossProbes"]),
            Identity(name: "count(syn) + count(synack) == ΔTCPSynRetrans", side: side,
                     witnessed: events(.syn) + events(.synAck), counted: counters["TcpExt.TCPSynRetrans"]),
            Identity(name: "other segments == 0", side: side, witnessed: segments(.other), counted: 0),
            // Not a kind of the rule: whether "Loss, icsk_pending 0, timer not queued" finds exactly the
            // retransmissions tcp_retransmit_timer itself makes.
            Identity(name: "RTO's own (Loss, pending none, timer running) == ΔTCPTimeouts − syn − synack", side: side,
                     witnessed: Int64(rtoItself), counted: dataTimeouts),
        ]
    }

    /// The rules evaluated on the same hits: the proposed one (as the bpftrace script applied it)
    /// and two variants of its `tlp` test, regrouped from the socket states the script recorded.
    enum Rule: String, CaseIterable {
        case proposed = "proposed rule"
        case runningTimer = "tlp only while the retransmit timer runs"
        case probeStates = "tlp only in Open/CWR"

        func kinds(_ witness: RetransmissionWitnessReport, _ side: LabSide) -> [RetransmissionKind: RetransmissionTally] {
            switch self {
            case .proposed: witness.kinds[side] ?? [:]
            case .runningTimer: witness.regrouped(side, by: \.kindWithRunningTimer)
            case .probeStates: witness.regrouped(side, by: \.kindInProbeStates)
            }
        }
    }

    /// Why an identity may fail without the rule being wrong for the exporter's purpose, from the
    /// kernel source; nil when a failure is a real one.
    static func knownReason(_ identity: Identity, rule: Rule) -> String? {
        if identity.name.hasPrefix("count(tlp)") && identity.counted > identity.witnessed {
            return "a probe sent new data: tcp_send_loss_probe counts TCPLossProbes also when tcp_write_xmit sent "
                + "a new segment (the send head fit the window), and that is no retransmission"
        }
        let staleProbe = "a LOSS_PROBE timer armed by tcp_write_xmit in Open state stays in icsk_pending while the "
            + "SACK that starts fast recovery is processed: tcp_ack re-arms only with FLAG_SET_XMIT_TIMER "
            + "(cumulative ACK, or a SACK RTT older than the head's transmission), and tcp_xmit_recovery retransmits "
            + "in Recovery with icsk_pending == 5, which TCPFastRetrans counts"
        if rule == .proposed && identity.name.hasPrefix("count(tlp)") && identity.witnessed > identity.counted {
            return staleProbe
        }
        if rule == .proposed && identity.name.hasPrefix("fast segments") && identity.witnessed < identity.counted {
            return staleProbe
        }
        return nil
    }

    /// Runs `kind`, prints every figure, and checks the identities of every rule on both sides.
    func check(_ kind: RetransmissionScenario.Kind, family: BulkTransfer.Family = .ipv4) throws {
        let result = try RetransmissionScenario.assigned(kind, family: family).run(witness: true)
        let witness = try #require(result.witness)
        print("KindGroundTruth \(result)")
        #expect(witness.recursionMisses == 0, "the kernel skipped runs of the witness: its maps are short")
        #expect(result.nstatMismatches.isEmpty, "nstat -asz and /proc disagree: \(result.nstatMismatches)")
        for side in LabSide.allCases {
            // The identities count successful retransmissions only. -EBUSY (the skb is still in the
            // host's queue) returns before RetransSegs moves, so it cannot break them and happens
            // on its own now and then; any other failure could have moved a counter.
            #expect(witness.failed[side, default: [:]].keys.allSatisfy { $0 == -16 },
                    "\(side): retransmissions that failed after the counters moved: \(witness.failed)")
            // The script's classification and the Swift copy of the rule must agree on the same hits.
            #expect(witness.regrouped(side, by: \.proposedKind) == (witness.kinds[side] ?? [:]))
            let rtoItself = witness.states.filter { $0.key.side == side && $0.key.isRetransmissionTimerItself && !$0.key.syn }
                .values.reduce(0) { $0 + $1.events }
            for rule in Rule.allCases {
                let identities = Self.identities(result, side: side, kinds: rule.kinds(witness, side), rtoItself: rtoItself)
                // The witness saw fewer segments than the kernel retransmitted: bpftrace's program
                // did not run for some hit (the unexplained gap the exporter's tests also record,
                // docs/BENCHMARKS.md "Co-tenancy"). Then no identity can be judged on this side.
                let witnessMissedHits = identities.first.map { $0.witnessed < $0.counted } ?? false
                for identity in identities {
                    print("KindGroundTruth \(kind) \(rule.rawValue): \(identity.holds ? "holds" : "DOES NOT HOLD"): \(identity)")
                    guard !identity.holds else { continue }
                    if witnessMissedHits {
                        withKnownIssue("the witness missed tracepoint hits (its program did not run for them)",
                                       isIntermittent: true) {
                            Issue.record("\(kind), \(rule.rawValue): \(identity)")
                        }
                    } else if let reason = Self.knownReason(identity, rule: rule) {
                        withKnownIssue("\(reason)", isIntermittent: true) {
                            Issue.record("\(kind), \(rule.rawValue): \(identity)")
                        }
                    } else {
                        Issue.record("\(kind), \(rule.rawValue): \(identity)\n\(result)")
                    }
                }
            }
        }
    }

    @Test func timeout() throws { try check(.timeout) }
    @Test func fast() throws { try check(.fast) }
    @Test func tailLossProbe() throws { try check(.tailLossProbe) }
    @Test func syn() throws { try check(.syn) }
    @Test func synAck() throws { try check(.synAck) }
    @Test func mixed() throws { try check(.mixed) }
    @Test func fastIPv6() throws { try check(.fast, family: .ipv6) }
    @Test func tailLossProbeIPv6() throws { try check(.tailLossProbe, family: .ipv6) }
}

/// The parsers of the ground truth, without a kernel (they run in the parallel phase).
struct KindGroundTruthParsingTests {
    /// The parser against a real pair of /proc files' shape.
    @Test func countersParse() throws {
        let text = """
            Tcp: RtoAlgorithm RtoMin RtoMax MaxConn RetransSegs
            Tcp: 1 200 120000 -1 95
            TcpExt: TCPFastRetrans TCPTimeouts
            TcpExt: 94 1
            """
        let values = try NetnsCounters.parse(text)
        #expect(values == ["Tcp.RtoAlgorithm": 1, "Tcp.RtoMin": 200, "Tcp.RtoMax": 120000, "Tcp.RetransSegs": 95,
                           "TcpExt.TCPFastRetrans": 94, "TcpExt.TCPTimeouts": 1])
        let earlier = NetnsCounters(values: ["Tcp.RetransSegs": 90])
        #expect(NetnsCounters(values: values).delta(from: earlier)["Tcp.RetransSegs"] == 5)
        #expect(throws: CountersParseError.self) { try NetnsCounters.parse("Tcp: A B\nTcp: 1") }
    }

    /// bpftrace -f json output as the witness's script leaves it at exit (seen in a fast run).
    @Test func witnessParse() throws {
        let output = """
            {"type": "attached_probes", "data": {"probes": 3}}
            {"type": "printf", "data": "ready\\n"}
            {"type": "map", "data": {"@events": {"0,3": 8, "0,2": 4, "1,5": 1}}}
            {"type": "map", "data": {"@failed": {"0,-16": 2}}}
            {"type": "map", "data": {"@segments": {"0,2": 4, "0,3": 88, "1,5": 1}}}
            {"type": "map", "data": {"@stateSegments": {"0,3,5,0,1": 4, "0,3,1,0,1": 88}}}
            {"type": "map", "data": {"@states": {"0,3,5,0,1": 4, "0,3,1,0,1": 8}}}
            """
        let report = try RetransmissionKindWitness.parse(output)
        #expect(report.tally(.sender, .fast) == RetransmissionTally(events: 8, segments: 88))
        #expect(report.tally(.sender, .tailLossProbe) == RetransmissionTally(events: 4, segments: 4))
        #expect(report.tally(.receiver, .synAck) == RetransmissionTally(events: 1, segments: 1))
        #expect(report.failed[.sender] == [-16: 2])
        // The stale LOSS_PROBE (timer armed, Recovery) is `tlp` for the proposed rule only.
        #expect(report.regrouped(.sender, by: \.proposedKind) == report.kinds[.sender])
        #expect(report.regrouped(.sender, by: \.kindWithRunningTimer)[.fast] == RetransmissionTally(events: 12, segments: 92))
        #expect(report.regrouped(.sender, by: \.kindInProbeStates)[.tailLossProbe] == nil)
    }
}
