import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kinds a retransmission can be classified into at tcp:tcp_retransmit_skb (and
/// tcp:tcp_retransmit_synack), with the codes the witness script uses.
public enum RetransmissionKind: Int, CaseIterable, Sendable, CustomStringConvertible {
    case syn = 0, timeout = 1, tailLossProbe = 2, fast = 3, other = 4, synAck = 5

    public var description: String {
        switch self {
        case .syn: "syn"
        case .timeout: "timeout"
        case .tailLossProbe: "tlp"
        case .fast: "fast"
        case .other: "other"
        case .synAck: "synack"
        }
    }
}

/// Which namespace of a `VethNamespaces` lab retransmitted: the sender's sockets have the
/// lab's port as destination, the receiver's (listener, accepted socket) as source.
public enum LabSide: Int, CaseIterable, Sendable, CustomStringConvertible {
    case sender = 0, receiver = 1
    public var description: String { self == .sender ? "sender" : "receiver" }
}

/// What the socket looked like at one successful (`err == 0`) tcp_retransmit_skb hit:
/// enough to apply any classification rule afterwards, not only the one the script applies.
public struct RetransmissionSocketState: Hashable, Sendable, CustomStringConvertible {
    public var side: LabSide
    /// `inet_csk(sk)->icsk_ca_state`: 0 Open, 1 Disorder, 2 CWR, 3 Recovery, 4 Loss.
    public var caState: Int
    /// `inet_csk(sk)->icsk_pending`: 0 none, 1 RETRANS, 3 PROBE0, 5 LOSS_PROBE, 6 REO_TIMEOUT.
    public var pending: Int
    /// `TCP_SKB_CB(skb)->tcp_flags & TCPHDR_SYN`.
    public var syn: Bool
    /// Whether `icsk_retransmit_timer` is queued (`entry.pprev != NULL`). It is not while its own
    /// handler runs (an expired timer is detached and re-armed only after the retransmission), so
    /// this tells a retransmission made by the timer from one made while processing an ACK.
    public var timerArmed: Bool

    public static let caStateNames = ["Open", "Disorder", "CWR", "Recovery", "Loss"]
    public static let pendingNames = [0: "none", 1: "RETRANS", 2: "DACK", 3: "PROBE0", 5: "LOSS_PROBE", 6: "REO_TIMEOUT"]

    public var description: String {
        let ca = caState < Self.caStateNames.count ? Self.caStateNames[caState] : "\(caState)"
        return "\(side) ca=\(ca) pending=\(Self.pendingNames[pending] ?? "\(pending)") syn=\(syn ? 1 : 0) "
            + "timer=\(timerArmed ? "armed" : "running")"
    }

    /// The rule proposed for the exporter, in its priority order: SYN flag, Loss state,
    /// LOSS_PROBE pending, Disorder/CWR/Recovery, anything else.
    public var proposedKind: RetransmissionKind {
        if syn { return .syn }
        if caState == 4 { return .timeout }
        if pending == 5 { return .tailLossProbe }
        if (1...3).contains(caState) { return .fast }
        return .other
    }

    /// The same rule, except that a tail loss probe also needs the retransmit timer to be the one
    /// running (a LOSS_PROBE timer armed before the ACK that started fast recovery stays pending
    /// while that ACK's fast retransmissions go out).
    public var kindWithRunningTimer: RetransmissionKind {
        if syn { return .syn }
        if caState == 4 { return .timeout }
        if pending == 5 && !timerArmed { return .tailLossProbe }
        if (1...3).contains(caState) { return .fast }
        return .other
    }

    /// The same rule, except that a tail loss probe also needs a state tcp_schedule_loss_probe
    /// arms probes in (Open or CWR): a stale LOSS_PROBE seen during fast recovery is in Recovery.
    public var kindInProbeStates: RetransmissionKind {
        if syn { return .syn }
        if caState == 4 { return .timeout }
        if pending == 5 && (caState == 0 || caState == 2) { return .tailLossProbe }
        if (1...3).contains(caState) { return .fast }
        return .other
    }

    /// The RTO timer's own retransmission (tcp_retransmit_timer: Loss just entered, `icsk_pending`
    /// cleared by tcp_write_timer_handler, the timer not re-armed yet).
    public var isRetransmissionTimerItself: Bool { caState == 4 && pending == 0 && !timerArmed }
}

/// Hits and segments (`tcp_gso_segs`) of one group of retransmissions.
public struct RetransmissionTally: Sendable, Equatable, CustomStringConvertible {
    public var events: Int
    public var segments: Int

    public init(events: Int = 0, segments: Int = 0) {
        self.events = events
        self.segments = segments
    }

    public static func + (left: RetransmissionTally, right: RetransmissionTally) -> RetransmissionTally {
        RetransmissionTally(events: left.events + right.events, segments: left.segments + right.segments)
    }

    public var description: String { "\(events) events/\(segments) segs" }
}

/// What the witness saw, per side of the lab.
public struct RetransmissionWitnessReport: Sendable, CustomStringConvertible {
    /// As the script classified them (the proposed rule), including `synAck`.
    public var kinds: [LabSide: [RetransmissionKind: RetransmissionTally]]
    /// Every successful tcp_retransmit_skb hit by socket state (no SYN-ACKs: they have no skb here).
    public var states: [RetransmissionSocketState: RetransmissionTally]
    /// Hits with `err != 0`, by side and errno (negative, as the kernel passes it).
    public var failed: [LabSide: [Int: Int]]
    /// Runs of the witness's programs the kernel skipped (`recursion_misses`): must be 0 for exact maps.
    public var recursionMisses = 0

    public func tally(_ side: LabSide, _ kind: RetransmissionKind) -> RetransmissionTally {
        kinds[side]?[kind] ?? RetransmissionTally()
    }

    /// All kinds of one side together.
    public func total(_ side: LabSide) -> RetransmissionTally {
        (kinds[side] ?? [:]).values.reduce(RetransmissionTally(), +)
    }

    /// The tcp_retransmit_skb hits of one side regrouped by another rule (SYN-ACKs added as they are).
    public func regrouped(_ side: LabSide, by rule: (RetransmissionSocketState) -> RetransmissionKind)
        -> [RetransmissionKind: RetransmissionTally] {
        var result: [RetransmissionKind: RetransmissionTally] = [:]
        for (state, tally) in states where state.side == side {
            result[rule(state), default: RetransmissionTally()] = result[rule(state), default: RetransmissionTally()] + tally
        }
        let synAck = tally(side, .synAck)
        if synAck.events > 0 { result[.synAck] = synAck }
        return result
    }

    public func failedCount(_ side: LabSide) -> Int { (failed[side] ?? [:]).values.reduce(0, +) }

    public var description: String {
        var lines: [String] = []
        for side in LabSide.allCases {
            let kinds = RetransmissionKind.allCases.compactMap { kind -> String? in
                let tally = self.tally(side, kind)
                return tally.events == 0 ? nil : "\(kind)=\(tally)"
            }
            lines.append("\(side): \(kinds.isEmpty ? "none" : kinds.joined(separator: ", "))"
                         + (failedCount(side) == 0 ? "" : "; failed \(failed[side] ?? [:])"))
        }
        for (state, tally) in states.sorted(by: { $0.key.description < $1.key.description }) {
            lines.append("  \(state): \(tally)")
        }
        if recursionMisses != 0 { lines.append("  witness programs' recursion misses: \(recursionMisses)") }
        return lines.joined(separator: "\n")
    }
}

/// bpftrace on tcp:tcp_retransmit_skb and tcp:tcp_retransmit_synack, filtered to one port:
/// an independent tool applying the proposed classification by reading the kernel's own
/// structures (BTF), test-only. Start it before the traffic, stop it after the namespaces are
/// quiet and their counters read.
public final class RetransmissionKindWitness: @unchecked Sendable {
    // Unchecked: `process` is only touched by the owning test.
    public let port: UInt16
    private let process: BackgroundCommand

    public static var isAvailable: Bool { Command.which("bpftrace") != nil }

    /// `$1` is the port. Kind codes are `RetransmissionKind`'s; side 0 is the sender (dport ==
    /// port). `cb` is `struct tcp_skb_cb`, as TCP_SKB_CB() casts it; `tcp_gso_segs` there is
    /// tcp_skb_pcount(), which __tcp_retransmit_skb has just recomputed and added to RetransSegs.
    public static let script = """
        BEGIN { printf("ready\\n"); }
        tracepoint:tcp:tcp_retransmit_skb
        /args->sport == $1 || args->dport == $1/
        {
          $icsk = (struct inet_connection_sock *)args->skaddr;
          $cb = (struct tcp_skb_cb *)((struct sk_buff *)args->skbaddr)->cb;
          $side = args->dport == $1 ? 0 : 1;
          $ca = $icsk->icsk_ca_state;
          $pending = $icsk->icsk_pending;
          $syn = ($cb->tcp_flags & 2) ? 1 : 0;
          $armed = $icsk->icsk_retransmit_timer.entry.pprev != 0 ? 1 : 0;
          $segs = $cb->tcp_gso_segs;
          if (args->err != 0) {
            @failed[$side, args->err] = count();
          } else {
            $kind = 4;
            if ($syn) { $kind = 0; }
            else if ($ca == 4) { $kind = 1; }
            else if ($pending == 5) { $kind = 2; }
            else if ($ca >= 1 && $ca <= 3) { $kind = 3; }
            @events[$side, $kind] = count();
            @segments[$side, $kind] = sum($segs);
            @states[$side, $ca, $pending, $syn, $armed] = count();
            @stateSegments[$side, $ca, $pending, $syn, $armed] = sum($segs);
          }
        }
        tracepoint:tcp:tcp_retransmit_synack
        /args->sport == $1 || args->dport == $1/
        {
          $side = args->dport == $1 ? 0 : 1;
          @events[$side, 5] = count();
          @segments[$side, 5] = sum(1);
        }
        """

    /// Starts bpftrace and waits until its tracepoints are attached. (Its BEGIN runs before the
    /// tracepoints are attached in 0.17, so `ready` alone proves nothing; bpftrace writes
    /// `__BPFTRACE_NOTIFY_PROBES_ATTACHED` to stderr once they all are.)
    public static func start(port: UInt16, timeout: Double = 60) throws -> RetransmissionKindWitness {
        let before = Set(try Bpftool.programs().compactMap { $0.int("id") })
        let process = try Command.start(["bpftrace", "-f", "json", "-e", script, "\(port)"],
                                        environment: ["__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"])
        let deadline = Date().addingTimeInterval(timeout)
        while !process.stderrSoFar.contains("__BPFTRACE_NOTIFY_PROBES_ATTACHED") {
            guard process.isRunning, Date() < deadline else {
                let result = process.stop(SIGKILL, timeout: 5)
                throw WitnessError(reason: "bpftrace did not attach within \(timeout) s: \(result)")
            }
            usleep(50_000)
        }
        // Its two tracepoint programs (another tool loading one at this very moment would be counted too).
        let programs = try Bpftool.programs().filter {
            guard let id = $0.int("id") else { return false }
            return !before.contains(id) && $0.string("type") == "tracepoint"
        }.compactMap { $0.int("id") }
        // Without them its recursion misses would read 0 whatever happened.
        guard programs.count >= 2 else {
            let result = process.stop(SIGKILL, timeout: 5)
            throw WitnessError(reason: "bpftrace attached, but bpftool lists \(programs.count) new tracepoint programs, not 2: \(result)")
        }
        return RetransmissionKindWitness(port: port, process: process, programIDs: programs)
    }

    /// The ids of the witness's tracepoint programs.
    public let programIDs: [Int]

    private init(port: UInt16, process: BackgroundCommand, programIDs: [Int]) {
        self.port = port
        self.process = process
        self.programIDs = programIDs
    }

    /// SIGINT makes bpftrace print its maps and exit; returns them parsed, with the programs'
    /// recursion misses (runs the kernel skipped because a BPF program was already running on
    /// that CPU: those hits are missing from the maps).
    public func stop() throws -> RetransmissionWitnessReport {
        let ids = Set(programIDs)
        let misses = try Bpftool.programs().filter { $0.int("id").map(ids.contains) ?? false }
            .reduce(0) { $0 + ($1.int("recursion_misses") ?? 0) }
        // A SIGINT has been seen to go unanswered for 30 s (once, on a loaded machine): ask again
        // before giving up on the maps.
        for _ in 0..<3 where process.isRunning {
            process.send(SIGINT)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(50_000) }
        }
        let result = process.stop(SIGKILL, timeout: 5)
        guard result.succeeded else { throw WitnessError(reason: "bpftrace failed: \(result)") }
        var report = try Self.parse(result.stdout)
        report.recursionMisses = misses
        return report
    }

    deinit { process.kill() }

    /// Parses bpftrace's `-f json` lines: `{"type": "map", "data": {"@events": {"0,3": 2}}}`.
    public static func parse(_ output: String) throws -> RetransmissionWitnessReport {
        var maps: [String: [[Int]: Int]] = [:]
        for line in output.split(separator: "\n") where line.contains("\"map\"") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let data = object["data"] as? [String: Any] else {
                throw WitnessError(reason: "not a bpftrace map line: \(line)")
            }
            for (name, entries) in data {
                guard let entries = entries as? [String: Any] else {
                    throw WitnessError(reason: "map \(name) is not keyed: \(line)")
                }
                var parsed: [[Int]: Int] = [:]
                for (key, value) in entries {
                    let fields = key.split(separator: ",").compactMap { Int($0) }
                    guard let number = (value as? NSNumber)?.intValue else {
                        throw WitnessError(reason: "map \(name) key \(key) has no number: \(line)")
                    }
                    parsed[fields] = number
                }
                maps[name] = parsed
            }
        }
        var kinds: [LabSide: [RetransmissionKind: RetransmissionTally]] = [:]
        for (key, events) in maps["@events"] ?? [:] {
            guard key.count == 2, let side = LabSide(rawValue: key[0]), let kind = RetransmissionKind(rawValue: key[1]) else {
                throw WitnessError(reason: "@events key \(key)")
            }
            let segments = maps["@segments"]?[key] ?? 0
            kinds[side, default: [:]][kind] = RetransmissionTally(events: events, segments: segments)
        }
        var states: [RetransmissionSocketState: RetransmissionTally] = [:]
        for (key, events) in maps["@states"] ?? [:] {
            guard key.count == 5, let side = LabSide(rawValue: key[0]) else { throw WitnessError(reason: "@states key \(key)") }
            let state = RetransmissionSocketState(side: side, caState: key[1], pending: key[2], syn: key[3] != 0,
                                                  timerArmed: key[4] != 0)
            states[state] = RetransmissionTally(events: events, segments: maps["@stateSegments"]?[key] ?? 0)
        }
        var failed: [LabSide: [Int: Int]] = [:]
        for (key, count) in maps["@failed"] ?? [:] {
            guard key.count == 2, let side = LabSide(rawValue: key[0]) else { throw WitnessError(reason: "@failed key \(key)") }
            failed[side, default: [:]][key[1]] = count
        }
        return RetransmissionWitnessReport(kinds: kinds, states: states, failed: failed, recursionMisses: 0)
    }
}

public struct WitnessError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "retransmission kind witness: \(reason)" }
}
