/// The kernel's own TCP counters of one network namespace: `/proc/net/snmp` and
/// `/proc/net/netstat` read inside it (`ip netns exec NS cat ...`), the ground truth a
/// per-kind retransmission count is reconciled with.
///
/// Both files are pairs of lines with the same prefix, names then values:
///
///     Tcp: RtoAlgorithm RtoMin ... RetransSegs ...
///     Tcp: 1 200 ... 95 ...
///
/// Keys are `<prefix>.<name>`: `Tcp.RetransSegs`, `TcpExt.TCPFastRetrans`. A value that is
/// not a counter and is negative (`Tcp.MaxConn` is -1) is left out.
public struct NetnsCounters: Sendable, Equatable {
    public var values: [String: UInt64]

    public init(values: [String: UInt64]) {
        self.values = values
    }

    /// Reads both files inside `namespace` in one command (one moment, as far as a test can tell).
    public static func read(namespace: String) throws -> NetnsCounters {
        let result = try Command.run(["ip", "netns", "exec", namespace, "cat", "/proc/net/snmp", "/proc/net/netstat"])
        return NetnsCounters(values: try parse(result.stdout))
    }

    /// Parses the concatenation of `/proc/net/snmp` and `/proc/net/netstat`.
    public static func parse(_ text: String) throws -> [String: UInt64] {
        let lines = text.split(separator: "\n").map(String.init)
        var values: [String: UInt64] = [:]
        var index = 0
        while index + 1 < lines.count {
            let header = lines[index].split(separator: " ")
            let row = lines[index + 1].split(separator: " ")
            guard let prefix = header.first, prefix.hasSuffix(":"), row.first == prefix else {
                throw CountersParseError(line: index + 1, reason: "expected a `Prefix: names` / `Prefix: values` pair")
            }
            guard header.count == row.count else {
                throw CountersParseError(line: index + 1,
                                         reason: "\(prefix) has \(header.count - 1) names but \(row.count - 1) values")
            }
            let name = prefix.dropLast()
            for (counter, value) in zip(header.dropFirst(), row.dropFirst()) {
                if let number = UInt64(value) {
                    values["\(name).\(counter)"] = number
                } else if Int64(value) == nil {
                    throw CountersParseError(line: index + 2, reason: "\(name).\(counter) is not a number: \(value)")
                }
            }
            index += 2
        }
        guard index == lines.count else {
            throw CountersParseError(line: index + 1, reason: "a names line without its values line")
        }
        return values
    }

    /// The counter, 0 when this kernel has no such counter.
    public subscript(_ key: String) -> UInt64 { values[key] ?? 0 }

    /// How much each counter moved since `earlier` (signed: a reset would show as negative, not wrap).
    public func delta(from earlier: NetnsCounters) -> CounterDelta {
        var moved: [String: Int64] = [:]
        for (key, value) in values {
            moved[key] = Int64(bitPattern: value &- (earlier.values[key] ?? 0))
        }
        return CounterDelta(values: moved)
    }

    /// `nstat -asz` inside `namespace` (absolute values, no history file touched), keyed the way
    /// nstat names them: `TcpRetransSegs`, `TcpExtTCPFastRetrans`. For cross-checking `read`.
    public static func nstat(namespace: String) throws -> [String: UInt64] {
        let result = try Command.run(["ip", "netns", "exec", namespace, "nstat", "-asz"])
        var values: [String: UInt64] = [:]
        for line in result.stdout.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let value = UInt64(fields[1]) { values[String(fields[0])] = value }
        }
        return values
    }

    /// The nstat name of a key of `values`: `Tcp.RetransSegs` -> `TcpRetransSegs`.
    public static func nstatName(_ key: String) -> String { key.replacingOccurrences(of: ".", with: "") }
}

/// Counters moved between two readings of `NetnsCounters`.
public struct CounterDelta: Sendable, Equatable, CustomStringConvertible {
    public var values: [String: Int64]

    public init(values: [String: Int64]) {
        self.values = values
    }

    /// The move of `key`, 0 when this kernel has no such counter.
    public subscript(_ key: String) -> Int64 { values[key] ?? 0 }

    /// The counters that matter for retransmissions, in a fixed order.
    public static let retransmissionKeys = [
        "Tcp.RetransSegs", "TcpExt.TCPFastRetrans", "TcpExt.TCPSlowStartRetrans", "TcpExt.TCPTimeouts",
        "TcpExt.TCPLossProbes", "TcpExt.TCPLossProbeRecovery", "TcpExt.TCPSynRetrans", "TcpExt.TCPRetransFail",
        "TcpExt.TCPLostRetransmit", "TcpExt.TCPSpuriousRtxHostQueues",
    ]

    /// `Tcp.RetransSegs=95 TcpExt.TCPFastRetrans=94 ...`: the retransmission counters.
    public var description: String {
        Self.retransmissionKeys.map { "\($0)=\(self[$0])" }.joined(separator: " ")
    }
}

public struct CountersParseError: Error, CustomStringConvertible {
    public var line: Int
    public var reason: String
    public var description: String { "/proc/net/snmp+netstat line \(line): \(reason)" }
}

import Foundation
