import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private ftrace instance (`<tracefs>/instances/<name>`) recording one
/// tracepoint: the independent count tests compare against. Instances do not
/// disturb the global trace buffer or anyone else's instance.
///
/// Order for an exact count: create (enables recording) → traffic → delete the
/// namespaces (no socket left to retransmit) → `stopAndCount()` → `remove()`.
public final class FtraceCounter: @unchecked Sendable {
    // Unchecked: `removed` is only touched by the owning test.
    public let name: String
    public let directory: String
    public let category: String
    public let event: String
    private var removed = false

    /// Matches the test flow in both directions (data one way, FIN/ACKs the other).
    public static func portFilter(_ port: UInt16) -> String { "sport == \(port) || dport == \(port)" }

    /// Creates the instance, sets `filter` (nil: every hit on the host), and starts recording.
    /// `bufferKilobytesPerCPU` raises the ring size for busy, unfiltered counts.
    public static func create(name: String, category: String = "tcp", event: String = "tcp_retransmit_skb",
                              filter: String?, bufferKilobytesPerCPU: Int? = nil,
                              tracefs: String = "/sys/kernel/tracing") throws -> FtraceCounter {
        let counter = FtraceCounter(name: name, category: category, event: event, tracefs: tracefs)
        counter.remove()  // leftover of a crashed earlier run
        counter.removed = false
        guard mkdir(counter.directory, 0o755) == 0 else {
            throw FtraceError(path: counter.directory, reason: String(cString: strerror(errno)))
        }
        do {
            if let bufferKilobytesPerCPU { try write("\(bufferKilobytesPerCPU)", to: counter.directory + "/buffer_size_kb") }
            if let filter { try write(filter, to: counter.eventDirectory + "/filter") }
            try write("1", to: counter.eventDirectory + "/enable")
        } catch {
            counter.remove()
            throw error
        }
        return counter
    }

    private init(name: String, category: String, event: String, tracefs: String) {
        self.name = name
        self.category = category
        self.event = event
        directory = "\(tracefs)/instances/\(name)"
    }

    public var eventDirectory: String { "\(directory)/events/\(category)/\(event)" }

    /// Stops recording.
    public func stop() throws {
        try Self.write("0", to: eventDirectory + "/enable")
    }

    /// The recorded event lines (header comments dropped).
    public func lines() throws -> [String] {
        let text = try Self.read(directory + "/trace")
        return text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && $0.contains("\(event):") }
    }

    /// Records lost per CPU because the buffer was full (must all be 0 for a count to be trusted).
    public func overruns() throws -> [Int: Int] {
        var result: [Int: Int] = [:]
        let perCPU = directory + "/per_cpu"
        for entry in try FileManager.default.contentsOfDirectory(atPath: perCPU) where entry.hasPrefix("cpu") {
            guard let cpu = Int(entry.dropFirst(3)) else { continue }
            let stats = try Self.read("\(perCPU)/\(entry)/stats")
            for line in stats.split(separator: "\n") where line.hasPrefix("overrun:") {
                result[cpu] = Int(line.dropFirst("overrun:".count).trimmingCharacters(in: .whitespaces))
            }
        }
        return result
    }

    /// Stops, checks that nothing was overrun, and returns the number of records.
    public func stopAndCount() throws -> Int {
        try stop()
        let lost = try overruns().filter { $0.value != 0 }
        guard lost.isEmpty else {
            throw FtraceError(path: directory, reason: "ftrace overran, count not exact: \(lost)")
        }
        return try lines().count
    }

    /// Disables and deletes the instance. Idempotent.
    public func remove() {
        guard !removed else { return }
        removed = true
        guard access(directory, F_OK) == 0 else { return }
        try? Self.write("0", to: eventDirectory + "/enable")
        _ = rmdir(directory)
    }

    deinit { remove() }

    /// Reads to EOF: tracefs files report size 0, and Foundation's
    /// `String(contentsOfFile:)` stops after the first page of them.
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FtraceError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw FtraceError(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw FtraceError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw FtraceError(path: path, reason: "write of `\(text)` failed: \(String(cString: strerror(errno)))")
        }
    }
}

public struct FtraceError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "ftrace \(path): \(reason)" }
}

extension FtraceCounter {
    /// Every recorded hit of tcp/tcp_retransmit_skb, in order, parsed.
    public func hits() throws -> [TracepointHit] {
        try lines().map { try TracepointHit(ftraceLine: $0) }
    }

    /// Stops, checks that nothing was overrun, and returns the parsed hits.
    public func stopAndReadHits() throws -> [TracepointHit] {
        _ = try stopAndCount()
        return try hits()
    }

    /// The recorded retransmissions split the way the exporter splits them: `err == 0` or not.
    public func retransmissions() throws -> (succeeded: Int, failed: Int) {
        let hits = try hits()
        let failed = hits.filter { $0.err != 0 }.count
        return (hits.count - failed, failed)
    }
}

/// One hit of tcp/tcp_retransmit_skb as a private ftrace instance printed it:
/// the ground truth the exporter's outputs are compared with.
public struct TracepointHit: Hashable, Sendable, CustomStringConvertible {
    public var ipVersion: String
    public var sourceAddress: String
    public var sourcePort: String
    public var destinationAddress: String
    public var destinationPort: String
    /// Without the `TCP_` prefix: `ESTABLISHED`, as the exporter names states.
    public var state: String
    public var err: Int

    public var description: String {
        "v\(ipVersion) \(sourceAddress):\(sourcePort) -> \(destinationAddress):\(destinationPort) \(state) err=\(err)"
    }

    public init(ipVersion: String, sourceAddress: String, sourcePort: String, destinationAddress: String,
                destinationPort: String, state: String, err: Int) {
        self.ipVersion = ipVersion
        self.sourceAddress = sourceAddress
        self.sourcePort = sourcePort
        self.destinationAddress = destinationAddress
        self.destinationPort = destinationPort
        self.state = state
        self.err = err
    }

    /// Parses `... tcp_retransmit_skb: skbaddr=... family=AF_INET sport=7501 dport=... saddr=...
    /// daddr=... saddrv6=... daddrv6=... state=TCP_ESTABLISHED err=0`. IPv4 flows take the
    /// `saddr`/`daddr` fields, IPv6 flows `saddrv6`/`daddrv6` (printed by the kernel's `%pI6c`).
    public init(ftraceLine line: String) throws {
        guard let start = line.range(of: "tcp_retransmit_skb:") else {
            throw FtraceError(path: "trace", reason: "not a tcp_retransmit_skb record: \(line)")
        }
        var fields: [String: String] = [:]
        for token in line[start.upperBound...].split(separator: " ") {
            let parts = token.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let family = fields["family"], let sport = fields["sport"], let dport = fields["dport"],
              let state = fields["state"], let errText = fields["err"], let err = Int(errText) else {
            throw FtraceError(path: "trace", reason: "record without family/sport/dport/state/err: \(line)")
        }
        let ipv4 = family == "AF_INET"
        guard let source = fields[ipv4 ? "saddr" : "saddrv6"], let destination = fields[ipv4 ? "daddr" : "daddrv6"] else {
            throw FtraceError(path: "trace", reason: "record without addresses: \(line)")
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
