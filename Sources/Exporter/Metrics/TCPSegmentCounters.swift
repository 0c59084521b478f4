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
        let tcp = try ProcNetCounters.section("Tcp", of: text, path: path)
        return TCPSegmentCounters(sent: try tcp.value("OutSegs"), retransmitted: try tcp.value("RetransSegs"))
    }
}

/// One section of `/proc/net/snmp` or `/proc/net/netstat`: a `Name: field field ...` header
/// line followed by a `Name: value value ...` line.
struct ProcNetCounters: Sendable, Equatable {
    var section: String
    var path: String
    var values: [String: UInt64]
    /// Fields whose value is not a counter (a gauge such as `Tcp: MaxConn -1`), as written.
    var others: [String: String] = [:]

    static func section(_ name: String, of text: String, path: String) throws(TCPSegmentCountersError) -> ProcNetCounters {
        let prefix = name + ": "
        let lines = text.split(separator: "\n")
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix(prefix) }),
              headerIndex + 1 < lines.count, lines[headerIndex + 1].hasPrefix(prefix)
        else {
            throw .malformed(path: path, reason: "no `\(name):` header and value lines")
        }
        let names = lines[headerIndex].split(separator: " ")
        let numbers = lines[headerIndex + 1].split(separator: " ")
        guard names.count == numbers.count else {
            throw .malformed(path: path, reason: "`\(name):` lines have \(names.count) names but \(numbers.count) values")
        }
        var counters = ProcNetCounters(section: name, path: path, values: [:])
        for (field, number) in zip(names, numbers).dropFirst() {
            if let value = UInt64(number) {
                counters.values[String(field)] = value
            } else {
                counters.others[String(field)] = String(number)
            }
        }
        return counters
    }

    func value(_ field: String) throws(TCPSegmentCountersError) -> UInt64 {
        if let value = values[field] { return value }
        if let other = others[field] {
            throw .malformed(path: path, reason: "`\(section): \(field)` is not a counter: \(other)")
        }
        throw .malformed(path: path, reason: "no `\(section): \(field)` field")
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
