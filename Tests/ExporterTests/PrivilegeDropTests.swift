import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// Least privilege: the real binary, after attaching, holds no capability on any
/// thread (and with --run-as-user, another uid), and still counts exactly and serves.
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct PrivilegeDropTests {
    /// `nil`: stay root without capabilities; "nobody": switch to uid/gid 65534.
    @Test(arguments: [(nil, UInt16(7711), UInt16(21360)), ("nobody", UInt16(7712), UInt16(21361))])
    func noCapabilityLeftOnAnyThreadWhileCountingExactly(user: String?, port: UInt16, httpPort: UInt16) throws {
        let lab = try VethNamespaces.create(name: "rtx-hd-priv", ipv4Network: "10.203.7", ipv6Network: "fd00:203::7")
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: 10)
        let ftrace = try FtraceCounter.create(name: "rtx-hd-priv", filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }

        let exporter = try RunningExporter(port: httpPort, arguments: user.map { ["--run-as-user", $0] } ?? [])
        defer { exporter.stop() }
        try exporter.waitForLog()

        // Every thread, read from outside through /proc: nothing left, no way back.
        let threads = try ObservedThread.all(of: exporter.pid)
        #expect(threads.count >= 3, "main, ring reader, HTTP threads: \(threads)")
        for thread in threads {
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                #expect(thread.mask(set) == 0, "\(set): \(thread)")
            }
            #expect(thread.fields["NoNewPrivs"] == "1", "\(thread)")
            let expected = user == nil ? "0" : "65534"
            #expect(thread.ids("Uid") == Array(repeating: expected, count: 4), "\(thread)")
            #expect(thread.ids("Gid") == Array(repeating: expected, count: 4), "\(thread)")
            if user != nil { #expect(thread.fields["Groups"] == "", "\(thread)") }
        }
        // The one log line says what went.
        let dropLine = try #require(exporter.log.split(separator: "\n").first { $0.contains(RunningExporter.readyLine) })
        #expect(dropLine.contains("effective, permitted, inheritable, ambient, bounding set"))
        #expect(dropLine.contains("and set no_new_privs") && dropLine.contains("; every thread checked in /proc/self/task"))
        #expect(dropLine.contains("now running as user nobody (uid 65534, gid 65534)") == (user != nil))

        // Still counting: lossy traffic, compared with ftrace's count of the same flow.
        try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 4 << 20).run()
        try lab.waitUntilQuiet(port: port)
        lab.delete()  // no socket left to retransmit
        let recorded = try ftrace.stopAndCount()  // throws if ftrace overran
        let truth = try ftrace.retransmissions()
        #expect(truth.succeeded + truth.failed == recorded)
        let metrics = try exporter.scrape()  // still serving; the scrape drains the rings first
        #expect(truth.succeeded > 0, "the lossy transfer retransmitted nothing")
        let counts = metrics.expectFlowCounts(truth, port: port)
        print("run-as-user \(user ?? "-"): \(threads.count) threads without privileges; flow \(port): ftrace"
              + " \(truth.succeeded) + \(truth.failed) failed, exporter \(counts.counted) + \(counts.failed),"
              + " recursion misses \(counts.missed)")

        // What scrapes read with the descriptors held since before the drop, and procfs.
        let emitted = try #require(metrics.value("retrans_exporter_bpf_emitted_total"), "stats map unreadable after the drop")
        #expect(emitted >= Double(counts.counted + counts.failed), "the stats map agrees with what was counted")
        #expect(metrics.value("retrans_exporter_bpf_recursion_misses_total") != nil, "program info unreadable after the drop")
        #expect(metrics.value("tcp_segments_sent_total") != nil, "/proc/net/snmp unreadable after the drop")

        #expect(exporter.stop().status == 0, "\(exporter.log)")
        #expect(exporter.log.contains("detaching and stopping"))
    }

    /// The policy's own check of a thread, on status text written out by hand.
    @Test func threadCredentialsFindWhatIsLeft() {
        let clean = """
            Name:\tx
            Uid:\t65534\t65534\t65534\t65534
            Gid:\t65534\t65534\t65534\t65534
            Groups:\t
            NoNewPrivs:\t1
            CapInh:\t0000000000000000
            CapPrm:\t0000000000000000
            CapEff:\t0000000000000000
            CapBnd:\t0000000000000000
            CapAmb:\t0000000000000000
            """
        let nobody = UserAccount(name: "nobody", uid: 65534, gid: 65534)
        let drop = Privileges.Outcome(boundingSetDropped: true, user: nobody)
        #expect(ThreadCredentials(status: clean).problem(after: drop) == nil)
        let effective = clean.replacingOccurrences(of: "CapEff:\t0000000000000000", with: "CapEff:\t000001ffffffffff")
        #expect(ThreadCredentials(status: effective).problem(after: drop) == "CapEff = 1ffffffffff")
        let bounding = clean.replacingOccurrences(of: "CapBnd:\t0000000000000000", with: "CapBnd:\t000001ffffffffff")
        #expect(ThreadCredentials(status: bounding).problem(after: drop) == "CapBnd = 1ffffffffff")
        // Without CAP_SETPCAP the bounding set cannot be dropped, and is not asked for.
        let keepBounding = Privileges.Outcome(boundingSetDropped: false, user: nobody)
        #expect(ThreadCredentials(status: bounding).problem(after: keepBounding) == nil)
        let mayGainPrivileges = clean.replacingOccurrences(of: "NoNewPrivs:\t1", with: "NoNewPrivs:\t0")
        #expect(ThreadCredentials(status: mayGainPrivileges).problem(after: drop) == "NoNewPrivs not set")
        let stillRoot = clean.replacingOccurrences(of: "Uid:\t65534\t65534\t65534\t65534", with: "Uid:\t65534\t0\t65534\t65534")
        #expect(ThreadCredentials(status: stillRoot).problem(after: drop) == "Uid [65534, 0, 65534, 65534], expected 65534")
        let groups = clean.replacingOccurrences(of: "Groups:\t", with: "Groups:\t0 27")
        #expect(ThreadCredentials(status: groups).problem(after: drop) == "supplementary groups [0, 27] remain")
        #expect(ThreadCredentials(status: "Name:\tx\n").problem(after: drop) == "CapInh missing from its status")
    }

    @Test func userLookupResolvesNobodyAndExplainsAnUnknownName() throws {
        let nobody = try UserAccount.lookup("nobody")
        #expect(nobody == UserAccount(name: "nobody", uid: 65534, gid: 65534))
        #expect(throws: UserLookupError.noSuchUser(name: "rtx-hd-no-such-user")) {
            try UserAccount.lookup("rtx-hd-no-such-user")
        }
    }
}
