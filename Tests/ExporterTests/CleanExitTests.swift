import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// Clean exits: whatever ends the exporter, SIGKILL included, no program, link or
/// map of its own stays in the kernel, and a restart on the same port attaches
/// again and counts exactly. (SIGTERM/SIGINT exit codes are the end-to-end suite's.)
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct CleanExitTests {
    @Test func afterSIGKILLNothingOfOursRemainsAndARestartCountsExactly() throws {
        let httpPort: UInt16 = 21364
        let first = try RunningExporter(port: httpPort)
        defer { first.stop() }
        try first.waitForLog()
        _ = try first.scrape()  // a served connection, so the restart meets a socket in TIME_WAIT
        let held = try HeldKernelObjects.held(by: first.pid)
        // tp_btf (the default here): the retransmission program, the SYN-ACK one and the task
        // iterator, a link each.
        #expect(held.programIDs.count == 3 && held.linkIDs.count == 3 && held.mapIDs.count >= 2, "\(held)")
        #expect(try held.stillLoaded().description == held.description, "the kernel lists what fdinfo shows")
        // Independent witness: bpftool sees the program and the link.
        let bpftoolPrograms = Set(try Bpftool.programs().compactMap { $0.int("id") }.map(UInt32.init))
        #expect(held.programIDs.isSubset(of: bpftoolPrograms))

        #expect(first.stop(SIGKILL).status == 128 + SIGKILL)
        let left = try held.waitUntilUnloaded(timeout: 5)
        #expect(left.isEmpty, "still loaded after SIGKILL: \(left)")
        let bpftoolAfter = Set(try Bpftool.programs().compactMap { $0.int("id") }.map(UInt32.init))
        #expect(held.programIDs.isDisjoint(with: bpftoolAfter))

        // The restart: same port, attaches, counts a lossy flow exactly.
        let port: UInt16 = 7761
        let lab = try VethNamespaces.create(name: "rtx-hd-exit", ipv4Network: "10.203.7", ipv6Network: "fd00:203::7")
        defer { lab.delete() }
        try lab.dropInbound(port: port, oneIn: 10)
        let ftrace = try FtraceCounter.create(name: "rtx-hd-exit", filter: FtraceCounter.portFilter(port))
        defer { ftrace.remove() }
        let second = try RunningExporter(port: httpPort)
        defer { second.stop() }
        try second.waitForLog()
        let heldAgain = try HeldKernelObjects.held(by: second.pid)
        #expect(heldAgain.programIDs.count == 3 && heldAgain.linkIDs.count == 3, "\(heldAgain)")
        #expect(heldAgain.programIDs.isDisjoint(with: held.programIDs), "a new program, not a survivor")

        try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 4 << 20).run()
        try lab.waitUntilQuiet(port: port)
        lab.delete()
        let recorded = try ftrace.stopAndCount()
        let truth = try ftrace.retransmissions()
        let metrics = try second.scrape()
        #expect(recorded > 0)
        let counts = metrics.expectFlowCounts(truth, port: port)

        #expect(second.stop(SIGTERM).status == 0, "\(second.log)")
        let leftAfterTerm = try heldAgain.waitUntilUnloaded(timeout: 5)
        #expect(leftAfterTerm.isEmpty, "still loaded after SIGTERM: \(leftAfterTerm)")
        print("SIGKILL: \(held) all gone; restart: \(heldAgain), flow \(port): ftrace \(truth.succeeded) + \(truth.failed) failed,"
              + " exporter \(counts.counted) + \(counts.failed), recursion misses \(counts.missed); SIGTERM: all gone")
    }
}
