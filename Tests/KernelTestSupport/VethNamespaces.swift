import Foundation
/// Two network namespaces, `<name>-snd` and `<name>-rcv`, joined by a veth pair
/// (`veth0` on both sides), with IPv4 and IPv6 addresses:
///
///     sender   <ipv4Network>.1/24   <ipv6Network>:1/112
///     receiver <ipv4Network>.2/24   <ipv6Network>:2/112
///
/// Traffic between them never leaves the namespaces. Deleting the namespaces
/// removes the veth pair, the nftables rules and every socket in them.
public final class VethNamespaces: @unchecked Sendable {
    // Unchecked: `deleted` is only touched by the owning test.
    public let name: String
    public let sender: String
    public let receiver: String
    public let senderIPv4: String
    public let receiverIPv4: String
    public let senderIPv6: String
    public let receiverIPv6: String
    private var deleted = false

    /// - Parameters:
    ///   - name: namespace prefix, e.g. `rtx-ld-v4` (use your suite's assigned prefix).
    ///   - ipv4Network: the first three octets of a /24, e.g. `10.203.1`.
    ///   - ipv6Network: a prefix ending before the last group of a /112, e.g. `fd00:203::1`.
    public static func create(name: String, ipv4Network: String, ipv6Network: String) throws -> VethNamespaces {
        let lab = VethNamespaces(name: name, ipv4Network: ipv4Network, ipv6Network: ipv6Network)
        lab.delete()  // leftovers of a crashed earlier run
        lab.deleted = false
        do {
            try lab.build()
        } catch {
            lab.delete()
            throw error
        }
        return lab
    }

    private init(name: String, ipv4Network: String, ipv6Network: String) {
        self.name = name
        sender = "\(name)-snd"
        receiver = "\(name)-rcv"
        senderIPv4 = "\(ipv4Network).1"
        receiverIPv4 = "\(ipv4Network).2"
        senderIPv6 = "\(ipv6Network):1"
        receiverIPv6 = "\(ipv6Network):2"
    }

    private func build() throws {
        try Command.run(["ip", "netns", "add", sender])
        try Command.run(["ip", "netns", "add", receiver])
        // Both ends are created inside their namespaces: no interface ever appears on the host.
        try Command.run(["ip", "link", "add", "veth0", "netns", sender, "type", "veth",
                         "peer", "name", "veth0", "netns", receiver])
        for (namespace, v4, v6) in [(sender, senderIPv4, senderIPv6), (receiver, receiverIPv4, receiverIPv6)] {
            try Command.run(["ip", "-n", namespace, "addr", "add", "\(v4)/24", "dev", "veth0"])
            // nodad: the address is usable at once instead of after duplicate address detection.
            try Command.run(["ip", "-n", namespace, "addr", "add", "\(v6)/112", "dev", "veth0", "nodad"])
            try Command.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
            try Command.run(["ip", "-n", namespace, "link", "set", "veth0", "up"])
        }
    }

    /// Makes the receiver drop about one in `oneIn` inbound TCP packets to `port`
    /// (`numgen random mod N == 0 drop`, nftables in the receiver namespace only).
    public func dropInbound(port: UInt16, oneIn: Int = 10) throws {
        let table = "rtxloss"
        try inReceiver(["nft", "add", "table", "inet", table])
        try inReceiver(["nft", "add", "chain", "inet", table, "input",
                        "{ type filter hook input priority 0; policy accept; }"])
        try inReceiver(["nft", "add", "rule", "inet", table, "input", "tcp", "dport", "\(port)",
                        "numgen", "random", "mod", "\(oneIn)", "==", "0", "drop"])
    }

    /// The inode of one of the lab's namespaces as nsfs names it: what the exporter's `netns`
    /// label and the kernel's `net->ns.inum` hold.
    public func netnsInode(_ namespace: String) throws -> String {
        try Command.run(["stat", "-L", "-c", "%i", "/run/netns/\(namespace)"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command inside the sender namespace.
    @discardableResult
    public func inSender(_ arguments: [String], timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", sender] + arguments, timeout: timeout, check: check)
    }

    /// Runs a command inside the receiver namespace.
    @discardableResult
    public func inReceiver(_ arguments: [String], timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", receiver] + arguments, timeout: timeout, check: check)
    }

    /// Waits (up to `seconds`) until no socket of the flow on `port` can retransmit any more:
    /// every one is gone or in TIME-WAIT. A FIN whose ACK was dropped is retransmitted after the
    /// transfer returned, and deleting the namespaces destroys their sockets asynchronously, so
    /// call this before `delete()` whenever a count of the flow must be final (ftrace against an
    /// exporter's count: a hit after one of them stopped counting would be in only the other).
    public func waitUntilQuiet(port: UInt16, seconds: Double = 30) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            var active: [String] = []
            for namespace in [sender, receiver] {
                let listing = try Command.run(["ip", "netns", "exec", namespace, "ss", "-Htan", "state", "all",
                                               "( sport = :\(port) or dport = :\(port) )"])
                active += listing.stdout.split(separator: "\n").map(String.init)
                    .filter { !$0.hasPrefix("TIME-WAIT") && !$0.hasPrefix("LISTEN") }
            }
            if active.isEmpty { return }
            guard Date() < deadline else {
                throw FlowStillActive(port: port, seconds: seconds, sockets: active)
            }
            usleep(50_000)
        }
    }

    /// Deletes both namespaces (and with them the veth pair, rules and sockets). Idempotent.
    public func delete() {
        guard !deleted else { return }
        deleted = true
        for namespace in [sender, receiver] {
            _ = try? Command.run(["ip", "netns", "delete", namespace], check: false)
        }
    }

    deinit { delete() }
}

public struct FlowStillActive: Error, CustomStringConvertible {
    public var port: UInt16
    public var seconds: Double
    public var sockets: [String]
    public var description: String { "flow on port \(port) still active after \(seconds) s: \(sockets)" }
}
