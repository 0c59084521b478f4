import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One flow that provokes one kind of TCP retransmission on purpose, in a lab of its own
/// (`VethNamespaces`), and measures the kernel's counters of both namespaces around it.
///
/// Every drop is an nftables rule in the RECEIVER's input hook: the packet left the sender and
/// is lost on the way, as on a real path. (A drop in the sender's output hook would make
/// tcp_transmit_skb fail after __tcp_retransmit_skb has already added to RetransSegs.)
///
/// - `timeout`: a paced transfer; 0.5 s in, everything to the port is dropped for 1.5 s (the RTO
///   fires and backs off), then allowed again.
/// - `fast`: a bulk transfer; one data packet in 50 is dropped (the SACKs of the following ones
///   start fast recovery). Over veth a packet is a GSO skb of up to ~45 segments.
/// - `tailLossProbe`: request/response, one 500-byte request at a time; one request packet in 5
///   is dropped, and the sender has nothing more to send, so the probe timer fires first.
/// - `syn`: every SYN to the port is dropped for the first 1.5 s of the connect.
/// - `synAck`: everything but SYNs is dropped at the server for 1.5 s: the client's handshake ACK
///   and its first data, so the server retransmits its SYN-ACK (and the client its data).
/// - `mixed`: a bulk transfer losing 10 % of its data packets at random: fast recovery, lost
///   retransmissions, RTOs and slow-start retransmissions in one flow.
public struct RetransmissionScenario: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case timeout, fast, tailLossProbe, syn, synAck, mixed
    }

    public var kind: Kind
    public var family: BulkTransfer.Family
    public var labName: String
    public var ipv4Network: String
    public var ipv6Network: String
    public var port: UInt16

    public init(kind: Kind, family: BulkTransfer.Family, labName: String, ipv4Network: String, ipv6Network: String,
                port: UInt16) {
        self.kind = kind
        self.family = family
        self.labName = labName
        self.ipv4Network = ipv4Network
        self.ipv6Network = ipv6Network
        self.port = port
    }

    /// The names assigned to these scenarios: namespaces `rtx-kind-<kind><4|6>`, 10.203.60-65.0/24
    /// and fd00:203::6X:0/112 (one subnet number per kind, both families in each lab), ports
    /// 7960-7965 for IPv4 flows and 7970-7975 for IPv6 ones: the witness tells flows apart by port.
    public static func assigned(_ kind: Kind, family: BulkTransfer.Family = .ipv4) -> RetransmissionScenario {
        let index = Kind.allCases.firstIndex(of: kind) ?? 0
        let short = ["to", "fr", "tlp", "syn", "sa", "mx"][index] + (family == .ipv6 ? "6" : "4")
        return RetransmissionScenario(kind: kind, family: family, labName: "rtx-kind-\(short)",
                                      ipv4Network: "10.203.\(60 + index)", ipv6Network: "fd00:203::\(60 + index)",
                                      port: UInt16(7960 + index + (family == .ipv6 ? 10 : 0)))
    }

    static let table = "rtxkind"

    /// The rule dropping what this kind needs lost, as nft arguments after `add rule inet T input`.
    var dropRule: [String] {
        let port = ["tcp", "dport", "\(port)"]
        switch kind {
        case .timeout: return port + ["drop"]
        // No SYN, FIN or RST: only data is lost, so the handshake and the close stay clean.
        case .fast: return port + ["tcp", "flags", "&", "(syn|fin|rst)", "==", "0", "numgen", "inc", "mod", "50", "==", "0", "drop"]
        // Requests carry PSH; the bare ACKs of the sender do not, and are never dropped.
        case .tailLossProbe:
            return port + ["tcp", "flags", "&", "(syn|fin|rst|psh)", "==", "psh", "numgen", "inc", "mod", "5", "==", "0", "drop"]
        case .syn: return port + ["tcp", "flags", "&", "(syn|ack)", "==", "syn", "drop"]
        case .synAck: return port + ["tcp", "flags", "&", "syn", "==", "0", "drop"]
        case .mixed:
            return port + ["tcp", "flags", "&", "(syn|fin|rst)", "==", "0", "numgen", "random", "mod", "100", "<", "10", "drop"]
        }
    }

    /// How long the temporary drops last (the others last the whole flow).
    public static let dropSeconds = 1.5
    /// How far into the timeout scenario's transfer the blackout starts.
    public static let blackoutStart = 0.5

    /// Sender arguments after the address and port: mode, count, size, seconds between writes.
    var senderArguments: [String] {
        switch kind {
        case .timeout: return ["bulk", "250", "16384", "0.01"]          // 4 MiB over ~2.5 s + the blackout
        case .fast, .mixed: return ["bulk", "128", "65536", "0"]       // 8 MiB as fast as it goes
        case .tailLossProbe: return ["reqresp", "40", "500", "0"]      // 40 requests, one at a time
        case .syn, .synAck: return ["bulk", "4", "16384", "0"]         // 64 KiB once connected
        }
    }

    var expectedBytes: Int {
        let arguments = senderArguments
        return (Int(arguments[1]) ?? 0) * (Int(arguments[2]) ?? 0)
    }

    /// Runs the flow; with `witness`, bpftrace classifies every retransmission of it meanwhile.
    public func run(witness: Bool) throws -> RetransmissionScenarioResult {
        let lab = try VethNamespaces.create(name: labName, ipv4Network: ipv4Network, ipv6Network: ipv6Network)
        defer { lab.delete() }
        // Read while the namespaces exist: an exporter's `netns` label is this inode.
        let netns = [LabSide.sender: try lab.netnsInode(lab.sender), .receiver: try lab.netnsInode(lab.receiver)]
        try lab.inReceiver(["nft", "add", "table", "inet", Self.table])
        try lab.inReceiver(["nft", "add", "chain", "inet", Self.table, "input",
                            "{ type filter hook input priority 0; policy accept; }"])
        let permanent = kind == .fast || kind == .tailLossProbe || kind == .mixed
        if permanent { try addDropRule(lab) }

        let observer = witness ? try RetransmissionKindWitness.start(port: port) : nil
        let senderBefore = try NetnsCounters.read(namespace: lab.sender)
        let receiverBefore = try NetnsCounters.read(namespace: lab.receiver)

        let address = family == .ipv4 ? lab.receiverIPv4 : lab.receiverIPv6
        let mode = kind == .tailLossProbe ? "reqresp" : "bulk"
        let receiver = try Command.start(["ip", "netns", "exec", lab.receiver, "python3", "-c", Self.receiverScript,
                                          address, "\(port)", mode, senderArguments[2], "30"])
        defer { receiver.kill() }
        try waitFor("listening", in: receiver)

        if kind == .syn || kind == .synAck { try addDropRule(lab) }
        let sender = try Command.start(["ip", "netns", "exec", lab.sender, "python3", "-c", Self.senderScript,
                                        address, "\(port)"] + senderArguments + ["30"])
        defer { sender.kill() }
        switch kind {
        case .syn, .synAck:
            usleep(useconds_t(Self.dropSeconds * 1_000_000))
            try flushDropRules(lab)
        case .timeout:
            try waitFor("connected", in: sender)
            usleep(useconds_t(Self.blackoutStart * 1_000_000))
            try addDropRule(lab)
            usleep(useconds_t(Self.dropSeconds * 1_000_000))
            try flushDropRules(lab)
        case .fast, .tailLossProbe, .mixed:
            break
        }

        let sent = try sender.wait(timeout: 60)
        let received = try receiver.wait(timeout: 60)
        guard sent.succeeded, received.succeeded,
              let count = received.stdout.split(separator: "\n").last.flatMap({ Int($0) }), count == expectedBytes else {
            throw ScenarioError(reason: "\(kind): the flow did not deliver \(expectedBytes) bytes\n\(sent)\n\(received)")
        }
        // A FIN whose ACK was lost is retransmitted after both programs returned.
        try lab.waitUntilQuiet(port: port)

        let senderAfter = try NetnsCounters.read(namespace: lab.sender)
        let receiverAfter = try NetnsCounters.read(namespace: lab.receiver)
        let mismatches = try Self.nstatMismatches(lab.sender, senderAfter) + Self.nstatMismatches(lab.receiver, receiverAfter)
        let report = try observer?.stop()
        return RetransmissionScenarioResult(scenario: self, sender: senderAfter.delta(from: senderBefore),
                                            receiver: receiverAfter.delta(from: receiverBefore), witness: report,
                                            nstatMismatches: mismatches, netns: netns)
    }

    private func addDropRule(_ lab: VethNamespaces) throws {
        try lab.inReceiver(["nft", "add", "rule", "inet", Self.table, "input"] + dropRule)
    }

    private func flushDropRules(_ lab: VethNamespaces) throws {
        try lab.inReceiver(["nft", "flush", "chain", "inet", Self.table, "input"])
    }

    private func waitFor(_ line: String, in process: BackgroundCommand, seconds: Double = 30) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !process.stdoutSoFar.contains(line) {
            guard process.isRunning, Date() < deadline else {
                throw ScenarioError(reason: "\(kind): no `\(line)` within \(seconds) s: \(process.stop(SIGKILL, timeout: 5))")
            }
            usleep(10_000)
        }
    }

    /// The TCP counters where `nstat -asz` disagrees with the /proc files, as "ns key: proc vs nstat".
    /// nstat leaves out what is not a counter (`Tcp.RtoMin`, `Tcp.CurrEstab`): only the
    /// retransmission counters must be there, the rest is compared where both have it.
    static func nstatMismatches(_ namespace: String, _ counters: NetnsCounters) throws -> [String] {
        let nstat = try NetnsCounters.nstat(namespace: namespace)
        let required = Set(CounterDelta.retransmissionKeys)
        return counters.values.keys.sorted().compactMap { key in
            guard key.hasPrefix("Tcp.") || key.hasPrefix("TcpExt.") else { return nil }
            guard let other = nstat[NetnsCounters.nstatName(key)] else {
                return required.contains(key) ? "\(namespace) \(key): \(counters[key]) vs absent" : nil
            }
            return other == counters[key] ? nil : "\(namespace) \(key): \(counters[key]) vs \(other)"
        }
    }

    /// Accepts one connection. `bulk`: reads to EOF. `reqresp`: answers every `size` bytes with one
    /// byte. Prints `listening` once it listens and the byte count at the end.
    static let receiverScript = """
        import socket, sys
        addr, port, mode, size, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((addr, port))
        server.listen(1)
        server.settimeout(timeout)
        print("listening", flush=True)
        conn, _ = server.accept()
        conn.settimeout(timeout)
        total = 0
        unanswered = 0
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            total += len(data)
            if mode == "reqresp":
                unanswered += len(data)
                while unanswered >= size:
                    unanswered -= size
                    conn.sendall(b"k")
        conn.close()
        server.close()
        print(total, flush=True)
        """

    /// Connects, prints `connected`. `bulk`: `count` writes of `size` bytes, `interval` s apart.
    /// `reqresp`: `count` requests of `size` bytes, each waiting for its one-byte answer (so at a
    /// lost request nothing else is queued behind it). Then half-closes and waits for the close.
    static let senderScript = """
        import socket, sys, time
        addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        count, size, interval, timeout = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
        conn = socket.create_connection((addr, port), timeout=timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("connected", flush=True)
        payload = b"x" * size
        sent = 0
        for _ in range(count):
            conn.sendall(payload)
            sent += size
            if mode == "reqresp":
                if not conn.recv(1):
                    raise SystemExit("receiver closed before answering")
            elif interval > 0:
                time.sleep(interval)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
        conn.close()
        print(sent, flush=True)
        """
}

/// What one scenario moved: the counters of both namespaces, and the witness's classification.
public struct RetransmissionScenarioResult: Sendable, CustomStringConvertible {
    public var scenario: RetransmissionScenario
    public var sender: CounterDelta
    public var receiver: CounterDelta
    public var witness: RetransmissionWitnessReport?
    /// Counters where `nstat -asz` disagreed with the /proc files (should be empty).
    public var nstatMismatches: [String]
    /// Each side's network namespace inode (`stat -L -c %i /run/netns/NS`), read while it existed.
    public var netns: [LabSide: String] = [:]

    public func counters(_ side: LabSide) -> CounterDelta { side == .sender ? sender : receiver }

    public var description: String {
        var text = "\(scenario.kind) (\(scenario.family)):\n  sender   \(sender)\n  receiver \(receiver)"
        if let witness { text += "\n" + witness.description.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") }
        if !nstatMismatches.isEmpty { text += "\n  nstat disagrees: \(nstatMismatches)" }
        return text
    }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "retransmission scenario: \(reason)" }
}
