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
        let bytes: [UInt8]
        do {
            bytes = try SystemFile.readBytes(path)
        } catch {
            throw TCPSegmentCountersError.unreadable(error.description)
        }
        return try parse(bytes, path: path)
    }

    /// Parses the `Tcp:` header line and the value line that follows it.
    static func parse(_ bytes: [UInt8], path: String = defaultPath) throws(TCPSegmentCountersError) -> TCPSegmentCounters {
        let tcp = try ProcNetCounters.section("Tcp", of: bytes, path: path)
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

    /// Reads the bytes, by index: every scrape parses one snmp and one netstat file per network
    /// namespace, and splitting them into Substrings (of Characters, then of UTF-8) cost 2 M,
    /// then 0.4 M instructions a pair.
    static func section(_ name: String, of bytes: [UInt8], path: String) throws(TCPSegmentCountersError) -> ProcNetCounters {
        let prefix = Array((name + ": ").utf8)
        let lines = ranges(of: bytes, in: bytes.indices, separatedBy: UInt8(ascii: "\n"))
        guard let headerIndex = lines.firstIndex(where: { bytes[$0].starts(with: prefix) }),
              headerIndex + 1 < lines.count, bytes[lines[headerIndex + 1]].starts(with: prefix)
        else {
            throw .malformed(path: path, reason: "no `\(name):` header and value lines")
        }
        let names = ranges(of: bytes, in: lines[headerIndex], separatedBy: UInt8(ascii: " "))
        let numbers = ranges(of: bytes, in: lines[headerIndex + 1], separatedBy: UInt8(ascii: " "))
        guard names.count == numbers.count else {
            throw .malformed(path: path, reason: "`\(name):` lines have \(names.count) names but \(numbers.count) values")
        }
        var counters = ProcNetCounters(section: name, path: path, values: Dictionary(minimumCapacity: names.count))
        for (field, number) in zip(names, numbers).dropFirst() {
            let key = String(decoding: bytes[field], as: UTF8.self)
            if let value = decimal(bytes[number]) {
                counters.values[key] = value
            } else {
                counters.others[key] = String(decoding: bytes[number], as: UTF8.self)
            }
        }
        return counters
    }

    /// The non-empty runs of `range` between `separator`s.
    private static func ranges(of bytes: [UInt8], in range: Range<Int>, separatedBy separator: UInt8) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = range.lowerBound
        for index in range where bytes[index] == separator {
            if index > start { runs.append(start..<index) }
            start = index + 1
        }
        if start < range.upperBound { runs.append(start..<range.upperBound) }
        return runs
    }

    /// An unsigned decimal of ASCII digits only (no sign); nil when it overflows 64 bits.
    static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow || carry { return nil }
            value = sum
        }
        return value
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
