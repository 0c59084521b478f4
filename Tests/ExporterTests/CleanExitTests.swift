import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// Clean exits: whatever ends the exporter, SIGKILL included, no program, link or
/// map of its own stays in the kernel, and a restart on the same port attaches
/// again and counts exactly. (SIGTERM/SIGINT exit codes are the end-to-end suite's.)
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct CleanExitTests {
    /// The kernel objects an exporter holds, from its /proc/PID/fdinfo (ids, not names:
    /// other tests load programs of the same name meanwhile).
    struct HeldObjects: CustomStringConvertible {
        var programs: Set<UInt32> = []
        var links: Set<UInt32> = []
        var maps: Set<UInt32> = []

        init(pid: Int32) throws {
            for fd in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fdinfo") {
                let info = try String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)
                for line in info.split(separator: "\n") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, let id = UInt32(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
                    switch parts[0] {
                    case "prog_id": programs.insert(id)
                    case "link_id": links.insert(id)
                    case "map_id": maps.insert(id)
                    default: break
                    }
                }
            }
        }

        var description: String { "programs \(programs.sorted()), links \(links.sorted()), maps \(maps.sorted())" }

        /// Those still in the kernel now, by walking its id spaces.
        func stillLoaded() throws -> HeldObjects {
            var left = self
            left.programs.formIntersection(try Syscalls.kernel.loadedPrograms().map(\.id))
            left.links.formIntersection(try Syscalls.kernel.loadedLinkIDs())
            left.maps.formIntersection(try Syscalls.kernel.loadedMaps().map(\.id))
            return left
        }

        var isEmpty: Bool { programs.isEmpty && links.isEmpty && maps.isEmpty }

        /// Waits (up to `seconds`) until none is left: the kernel frees them after an RCU grace period.
        func waitUntilGone(seconds: Double = 5) throws -> HeldObjects {
            let deadline = Date().addingTimeInterval(seconds)
            var left = try stillLoaded()
            while !left.isEmpty && Date() < deadline {
                usleep(50_000)
                left = try stillLoaded()
            }
            return left
        }
    }

    @Test func afterSIGKILLNothingOfOursRemainsAndARestartCountsExactly() throws {
        let httpPort: UInt16 = 21364
        let first = try RunningExporter(port: httpPort)
        defer { first.stop() }
        try first.waitForLog()
        _ = try first.scrape()  // a served connection, so the restart meets a socket in TIME_WAIT
        let held = try HeldObjects(pid: first.pid)
        #expect(held.programs.count == 1 && held.links.count == 1 && held.maps.count >= 2, "\(held)")
        #expect(try held.stillLoaded().description == held.description, "the kernel lists what fdinfo shows")
        // Independent witness: bpftool sees the program and the link.
        let bpftoolPrograms = Set(try Bpftool.programs().compactMap { $0.int("id") }.map(UInt32.init))
        #expect(held.programs.isSubset(of: bpftoolPrograms))

        #expect(first.stop(signal: SIGKILL) == 128 + SIGKILL)
        let left = try held.waitUntilGone()
        #expect(left.isEmpty, "still loaded after SIGKILL: \(left)")
        let bpftoolAfter = Set(try Bpftool.programs().compactMap { $0.int("id") }.map(UInt32.init))
        #expect(held.programs.isDisjoint(with: bpftoolAfter))

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
        let heldAgain = try HeldObjects(pid: second.pid)
        #expect(heldAgain.programs.count == 1 && heldAgain.links.count == 1, "\(heldAgain)")
        #expect(heldAgain.programs.isDisjoint(with: held.programs), "a new program, not a survivor")

        try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 4 << 20).run()
        try lab.waitUntilQuiet(port: port)
        lab.delete()
        let recorded = try ftrace.stopAndCount()
        let truth = FtraceRetransmissions(lines: try ftrace.lines())
        let metrics = try second.scrape()
        #expect(recorded > 0)
        let counts = metrics.expectFlowCounts(truth, port: port)

        #expect(second.stop(signal: SIGTERM) == 0, "\(second.log)")
        let leftAfterTerm = try heldAgain.waitUntilGone()
        #expect(leftAfterTerm.isEmpty, "still loaded after SIGTERM: \(leftAfterTerm)")
        print("SIGKILL: \(held) all gone; restart: \(heldAgain), flow \(port): ftrace \(truth.succeeded) + \(truth.failed) failed,"
              + " exporter \(counts.counted) + \(counts.failed), recursion misses \(counts.missed); SIGTERM: all gone")
    }
}
