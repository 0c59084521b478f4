import Foundation
import KernelTestSupport

extension TracepointHit {
    /// The exporter's default labels.
    var flowLabels: [String: String] {
        ["ip_version": ipVersion, "src_ip": sourceAddress, "src_port": sourcePort,
         "dst_ip": destinationAddress, "dst_port": destinationPort]
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
        let hits = try ftrace.stopAndReadHits()
        let addresses = family == .ipv4 ? (lab.senderIPv4, lab.receiverIPv4) : (lab.senderIPv6, lab.receiverIPv6)
        return (hits, addresses)
    }
}

extension Sequence where Element: Hashable {
    /// How many times each element occurs.
    var tally: [Element: Int] { reduce(into: [:]) { $0[$1, default: 0] += 1 } }
}
