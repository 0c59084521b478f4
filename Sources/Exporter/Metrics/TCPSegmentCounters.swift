import BPFSyscall

/// The kernel's `Tcp: OutSegs` and `Tcp: RetransSegs`, the denominator and numerator of the
/// usual retransmission ratio.
///
/// They count *segments*; the tracepoint behind `tcp_retransmissions_total` fires once per
/// retransmitted *skb*, which with TSO/GSO can carry many segments (measured here: RetransSegs
/// ~22x the tracepoint count in a bulk transfer over veth). They are also per network namespace
/// (the exporter's own), while the tracepoint sees every namespace.
struct TCPSegmentCounters: Sendable, Equatable {
    var sent: UInt64
    var retransmitted: UInt64

    static let defaultPath = "/proc/net/snmp"

    /// Reads and parses `/proc/net/snmp` (or `path`).
    static func read(path: String = defaultPath) throws -> TCPSegmentCounters {
        let text: String
        do {
            text = try SystemFile.readString(path)
        } catch {
            throw TCPSegmentCountersError.unreadable(error.description)
        }
        return try parse(text, path: path)
    }

    /// Parses the `Tcp:` header line and the value line that follows it.
    static func parse(_ text: String, path: String = defaultPath) throws(TCPSegmentCountersError) -> TCPSegmentCounters {
        let lines = text.split(separator: "\n")
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix("Tcp: ") && $0.split(separator: " ").contains("OutSegs") }),
              headerIndex + 1 < lines.count, lines[headerIndex + 1].hasPrefix("Tcp: ")
        else {
            throw .malformed(path: path, reason: "no `Tcp:` header and value lines")
        }
        let names = lines[headerIndex].split(separator: " ")
        let values = lines[headerIndex + 1].split(separator: " ")
        guard names.count == values.count else {
            throw .malformed(path: path, reason: "`Tcp:` lines have \(names.count) names but \(values.count) values")
        }
        func value(_ name: String) throws(TCPSegmentCountersError) -> UInt64 {
            guard let position = names.firstIndex(where: { $0 == name }) else {
                throw .malformed(path: path, reason: "no `Tcp: \(name)` field")
            }
            guard let number = UInt64(values[position]) else {
                throw .malformed(path: path, reason: "`Tcp: \(name)` is not a counter: \(values[position])")
            }
            return number
        }
        return TCPSegmentCounters(sent: try value("OutSegs"), retransmitted: try value("RetransSegs"))
    }
}

enum TCPSegmentCountersError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case malformed(path: String, reason: String)

    var description: String {
        switch self {
        case .unreadable(let reason): "TCP segment counters: \(reason)"
        case .malformed(let path, let reason): "TCP segment counters: \(path): \(reason)"
        }
    }
}
