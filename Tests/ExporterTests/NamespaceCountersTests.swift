import Foundation
import Testing
@testable import Exporter

/// The pieces of the per-namespace counters that need no kernel: the iterator's records and
/// the /proc/net tables. The real iterator and files are in WorkloadAttributionTests.
@Suite struct NamespaceCountersTests {
    @Test func iteratorRecordsDecodeInOrderAndAPartialTailIsIgnored() {
        var bytes: [UInt8] = []
        for (netns, pid, start) in [(UInt32(4_026_531_840), Int32(1), UInt64(12_000_000)),
                                    (UInt32(4_026_532_177), Int32(4242), UInt64(98_765_432_100))] {
            withUnsafeBytes(of: netns.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: pid.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: start.littleEndian) { bytes += $0 }
        }
        let tasks = NamespaceTask.decode(bytes + [1, 2, 3])
        #expect(tasks == [NamespaceTask(networkNamespace: 4_026_531_840, processID: 1, startBootNanoseconds: 12_000_000),
                          NamespaceTask(networkNamespace: 4_026_532_177, processID: 4242,
                                        startBootNanoseconds: 98_765_432_100)])
        #expect(NamespaceTask.decode([]).isEmpty && NamespaceTask.decode([0, 1]).isEmpty)
    }

    @Test func procNetSectionsParseAndSayWhatIsMissing() throws {
        let netstat = """
            TcpExt: SyncookiesSent TCPFastRetrans TCPSlowStartRetrans TCPTimeouts
            TcpExt: 0 92 35 4
            IpExt: InNoRoutes
            IpExt: 0
            """
        let ext = try ProcNetCounters.section("TcpExt", of: Array(netstat.utf8), path: "netstat")
        #expect(try ext.value("TCPFastRetrans") == 92 && ext.values.count == 4)
        #expect(throws: TCPSegmentCountersError.malformed(path: "netstat", reason: "no `TcpExt: TCPLossProbes` field")) {
            try ext.value("TCPLossProbes")
        }
        #expect(throws: TCPSegmentCountersError.self) { try ProcNetCounters.section("Tcp", of: Array(netstat.utf8), path: "netstat") }
        #expect(throws: TCPSegmentCountersError.self) {
            try ProcNetCounters.section("TcpExt", of: Array("TcpExt: A B\nTcpExt: 1\n".utf8), path: "short")
        }
        // Gauges that can be negative (Tcp: MaxConn -1) are left out, counters kept.
        let snmp = try ProcNetCounters.section("Tcp", of: Array("Tcp: MaxConn OutSegs\nTcp: -1 7\n".utf8), path: "snmp")
        #expect(snmp.values == ["OutSegs": 7] && snmp.others == ["MaxConn": "-1"])
    }

    /// The byte parser reads numbers as `UInt64(_:)` does for what /proc writes, and keeps the
    /// rest (signs, overflow, junk) out of the counters; the real files parse to the fields a
    /// plain split of their text gives, each a counter exactly when `UInt64(_:)` reads it.
    @Test func procNetNumbersAndTheRealFiles() throws {
        let oddText = "Tcp: A B C D E F\nTcp: 18446744073709551615 18446744073709551616 +5 1x 007 0\n"
        let odd = try ProcNetCounters.section("Tcp", of: Array(oddText.utf8), path: "odd")
        #expect(odd.values == ["A": UInt64.max, "E": 7, "F": 0])
        #expect(odd.others == ["B": "18446744073709551616", "C": "+5", "D": "1x"])
        // A header line alone at the end, and a value line of another section after it.
        #expect(throws: TCPSegmentCountersError.self) { try ProcNetCounters.section("Tcp", of: Array("Tcp: A".utf8), path: "t") }
        #expect(throws: TCPSegmentCountersError.self) {
            try ProcNetCounters.section("Tcp", of: Array("Tcp: A\nUdp: 1\n".utf8), path: "t")
        }
        for (path, section) in [("/proc/net/snmp", "Tcp"), ("/proc/net/netstat", "TcpExt")] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let lines = text.split(separator: "\n").filter { $0.hasPrefix(section + ": ") }
            let names = lines[0].split(separator: " ").dropFirst().map(String.init)
            let numbers = lines[1].split(separator: " ").dropFirst().map(String.init)
            let parsed = try ProcNetCounters.section(section, of: Array(text.utf8), path: path)
            #expect(parsed.values.count + parsed.others.count == names.count)
            for (name, number) in zip(names, numbers) {
                // Counters move between the two reads; presence and kind must match.
                #expect((UInt64(number) != nil) == (parsed.values[name] != nil), "\(path) \(name)")
            }
        }
    }

    /// This process's own namespace, through the collector with a hand-made iterator record.
    @Test func theCollectorReadsANamespaceAndSkipsAReusedPID() throws {
        let pid = getpid()
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = try #require(stat.split(separator: ")").last).split(separator: " ")
        let ticks = try #require(UInt64(fields[19]))
        let tick = 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
        @Sendable func record(start: UInt64) -> [UInt8] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt32(7).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: pid.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: start.littleEndian) { bytes += $0 }
            return bytes
        }
        let same = NamespaceCounterCollector(iterate: { record(start: ticks * tick) }).collect()
        #expect(same.counters.map(\.netns) == [7] && same.skipped == 0 && same.error == nil)
        let reused = NamespaceCounterCollector(iterate: { record(start: (ticks + 1000) * tick) }).collect()
        #expect(reused.counters.isEmpty && reused.skipped == 1, "a PID whose start time differs names another process")
    }
}
