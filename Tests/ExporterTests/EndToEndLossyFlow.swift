import Foundation
import KernelTestSupport

/// One hit of tcp/tcp_retransmit_skb as a private ftrace instance printed it:
/// the ground truth the exporter's outputs are compared with.
struct TracepointHit: Hashable, CustomStringConvertible {
    var ipVersion: String
    var sourceAddress: String
    var sourcePort: String
    var destinationAddress: String
    var destinationPort: String
    /// Without the `TCP_` prefix: `ESTABLISHED`, as the exporter names states.
    var state: String
    var err: Int

    var description: String {
        "v\(ipVersion) \(sourceAddress):\(sourcePort) -> \(destinationAddress):\(destinationPort) \(state) err=\(err)"
    }

    init(ipVersion: String, sourceAddress: String, sourcePort: String, destinationAddress: String,
         destinationPort: String, state: String, err: Int) {
        self.ipVersion = ipVersion
        self.sourceAddress = sourceAddress
        self.sourcePort = sourcePort
        self.destinationAddress = destinationAddress
        self.destinationPort = destinationPort
        self.state = state
        self.err = err
    }

    /// The exporter's default labels.
    var flowLabels: [String: String] {
        ["ip_version": ipVersion, "src_ip": sourceAddress, "src_port": sourcePort,
         "dst_ip": destinationAddress, "dst_port": destinationPort]
    }

    /// Parses `... tcp_retransmit_skb: skbaddr=... family=AF_INET sport=7501 dport=... saddr=...
    /// daddr=... saddrv6=... daddrv6=... state=TCP_ESTABLISHED err=0`. IPv4 flows take the
    /// `saddr`/`daddr` fields, IPv6 flows `saddrv6`/`daddrv6` (printed by the kernel's `%pI6c`).
    init(ftraceLine line: String) throws {
        guard let start = line.range(of: "tcp_retransmit_skb:") else {
            throw EndToEndError("not a tcp_retransmit_skb record: \(line)")
        }
        var fields: [String: String] = [:]
        for token in line[start.upperBound...].split(separator: " ") {
            let parts = token.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let family = fields["family"], let sport = fields["sport"], let dport = fields["dport"],
              let state = fields["state"], let errText = fields["err"], let err = Int(errText) else {
            throw EndToEndError("ftrace record without family/sport/dport/state/err: \(line)")
        }
        let ipv4 = family == "AF_INET"
        guard let source = fields[ipv4 ? "saddr" : "saddrv6"], let destination = fields[ipv4 ? "daddr" : "daddrv6"] else {
            throw EndToEndError("ftrace record without addresses: \(line)")
        }
        ipVersion = ipv4 ? "4" : "6"
        sourceAddress = source
        sourcePort = sport
        destinationAddress = destination
        destinationPort = dport
        self.state = state.hasPrefix("TCP_") ? String(state.dropFirst(4)) : state
        self.err = err
    }
}

/// A bounded bulk transfer over a lossy veth pair between two namespaces, counted
/// by a private ftrace instance filtered to its port (both directions). When
/// `run()` returns the namespaces are gone, so nothing of the flow can
/// retransmit any more, and the ftrace count is final.
struct LossyFlow {
    var name: String
    var family: BulkTransfer.Family
    var port: UInt16
    var bytes = 4 << 20
    /// The receiver drops about one in this many inbound packets to `port`.
    var dropOneIn = 10

    /// Runs the transfer; returns every tracepoint hit of the flow, in order.
    func run() throws -> (hits: [TracepointHit], lab: (sender: String, receiver: String)) {
        let lab = try VethNamespaces.create(name: name, ipv4Network: EndToEnd.ipv4Network,
                                            ipv6Network: EndToEnd.ipv6Network)
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: dropOneIn)
        let ftrace = try FtraceCounter.create(name: name, filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }

        try BulkTransfer(lab: lab, family: family, port: port, bytes: bytes).run()
        try lab.waitUntilQuiet(port: port)
        lab.delete()
        try ftrace.stop()
        let overruns = try ftrace.overruns().filter { $0.value != 0 }
        guard overruns.isEmpty else { throw EndToEndError("ftrace overran, count not exact: \(overruns)") }
        let hits = try ftrace.lines().map { try TracepointHit(ftraceLine: $0) }
        let addresses = family == .ipv4 ? (lab.senderIPv4, lab.receiverIPv4) : (lab.senderIPv6, lab.receiverIPv6)
        return (hits, addresses)
    }
}

extension Sequence where Element: Hashable {
    /// How many times each element occurs.
    var tally: [Element: Int] { reduce(into: [:]) { $0[$1, default: 0] += 1 } }
}
