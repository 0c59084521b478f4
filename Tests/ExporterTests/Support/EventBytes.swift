import Foundation
import Testing
import CRingTestSupport
@testable import Exporter

/// Builds raw sample bytes with clang's layout of `struct retrans_event` (not the decoder's
/// offsets), so decoding them checks the decoder against the C header.
enum EventBytes {
    static func make(
        family: UInt16 = 2, source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16,
        state: Int32 = 1, error: Int32 = 0, timestamp: UInt64 = 1_000, padding: Int = 0,
        segments: UInt16 = 0, networkNamespace: UInt32 = 0, kind: UInt8 = 0, cgroupID: UInt64 = 0
    ) -> [UInt8] {
        var event = retrans_event()
        event.timestamp_ns = timestamp
        event.state = state
        event.err = error
        event.family = family
        event.sport = sourcePort
        event.dport = destinationPort
        event.segments = segments
        event.netns = networkNamespace
        event.kind = kind
        event.cgroup_id = cgroupID
        let source16 = source.count == 4 ? mapped(source) : source
        let destination16 = destination.count == 4 ? mapped(destination) : destination
        withUnsafeMutableBytes(of: &event.saddr) { $0.copyBytes(from: source16) }
        withUnsafeMutableBytes(of: &event.daddr) { $0.copyBytes(from: destination16) }
        return withUnsafeBytes(of: event) { Array($0) } + [UInt8](repeating: 0xEE, count: padding)
    }

    /// `::ffff:a.b.c.d`, as the kernel fills saddr_v6 for IPv4 sockets.
    static func mapped(_ ipv4: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + ipv4
    }

    /// Parses `a.b.c.d` or a full/compressed IPv6 text for test fixtures (not the code under
    /// test: written independently of IPAddressText).
    static func address(_ text: String) -> [UInt8] {
        if !text.contains(":") {
            return text.split(separator: ".").map { UInt8($0)! }
        }
        let halves = text.components(separatedBy: "::")
        func groups(_ part: String) -> [UInt16] {
            part.isEmpty ? [] : part.split(separator: ":").flatMap { group -> [UInt16] in
                guard group.contains(".") else { return [UInt16(group, radix: 16)!] }
                let octets = group.split(separator: ".").map { UInt16($0)! }   // embedded IPv4
                return [octets[0] << 8 | octets[1], octets[2] << 8 | octets[3]]
            }
        }
        var all: [UInt16]
        if halves.count == 2 {
            let head = groups(halves[0])
            let tail = groups(halves[1])
            all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            all = groups(text)
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    static func record(_ bytes: [UInt8], into table: inout FlowTable) {
        bytes.withUnsafeBytes { table.record(sample: $0) }
    }

    static func record(_ bytes: [UInt8], into source: FlowTableSource) {
        bytes.withUnsafeBytes { source.record(sample: $0) }
    }

    /// Counts `events` in the hand-filled table behind a test's state, under one lock.
    static func record(_ events: [[UInt8]], into state: ExporterState) {
        table(of: state)?.withTable { table in
            for event in events { record(event, into: &table) }
        }
    }

    static func seriesCount(of state: ExporterState) -> Int {
        table(of: state)?.withTable { $0.seriesCount } ?? 0
    }

    private static func table(of state: ExporterState) -> FlowTableSource? {
        guard let source = state.source as? FlowTableSource else {
            Issue.record("the state's source is \(type(of: state.source)), not a FlowTableSource")
            return nil
        }
        return source
    }
}
