import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

@Suite struct TCPSegmentCountersTests {
    private let sample = """
        Ip: Forwarding DefaultTTL InReceives
        Ip: 1 64 2000
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
        Tcp: 1 200 120000 -1 18 2 7 0 0 1873 1030 17 0 7 0
        Udp: InDatagrams NoPorts
        Udp: 5 6

        """

    @Test func parsesOutSegsAndRetransSegs() throws {
        #expect(try TCPSegmentCounters.parse(Array(sample.utf8)) == TCPSegmentCounters(sent: 1030, retransmitted: 17))
    }

    @Test func malformedInputGivesAReason() {
        #expect(throws: TCPSegmentCountersError.malformed(path: "/proc/net/snmp", reason: "no `Tcp:` header and value lines")) {
            try TCPSegmentCounters.parse(Array("Ip: a\nIp: 1\n".utf8))
        }
        #expect(throws: TCPSegmentCountersError.malformed(path: "/proc/net/snmp", reason: "`Tcp:` lines have 4 names but 3 values")) {
            try TCPSegmentCounters.parse(Array("Tcp: OutSegs RetransSegs X\nTcp: 1 2\n".utf8))
        }
        #expect(throws: TCPSegmentCountersError.malformed(path: "/proc/net/snmp", reason: "`Tcp: RetransSegs` is not a counter: -5")) {
            try TCPSegmentCounters.parse(Array("Tcp: OutSegs RetransSegs\nTcp: 1 -5\n".utf8))
        }
        #expect(throws: TCPSegmentCountersError.malformed(path: "/proc/net/snmp", reason: "no `Tcp: RetransSegs` field")) {
            try TCPSegmentCounters.parse(Array("Tcp: OutSegs InSegs\nTcp: 1 2\n".utf8))
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: TCPSegmentCountersError.self) { try TCPSegmentCounters.read(path: "/nonexistent/snmp") }
    }

    /// The live file, bracketed by python3 reading it just before and just after (the
    /// counters only grow, and other processes send segments meanwhile).
    @Test func readsTheLiveFileLikePython() throws {
        guard let python = Command.which("python3") else {
            Issue.record("python3 is not installed: cannot run the independent witness")
            return
        }
        let script = """
            lines = [l.split() for l in open('/proc/net/snmp') if l.startswith('Tcp:')]
            d = dict(zip(lines[0][1:], lines[1][1:]))
            print(d['OutSegs'], d['RetransSegs'])
            """
        func witness() throws -> (UInt64, UInt64) {
            let fields = try Command.run([python, "-c", script], check: false).stdout.split(separator: " ")
                .map { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }
            return (fields[0], fields[1])
        }
        let before = try witness()
        let ours = try TCPSegmentCounters.read()
        let after = try witness()
        #expect(before.0 <= ours.sent && ours.sent <= after.0)
        #expect(before.1 <= ours.retransmitted && ours.retransmitted <= after.1)
        #expect(ours.sent > 0)
    }
}
