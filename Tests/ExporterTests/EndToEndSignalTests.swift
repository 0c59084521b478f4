import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Stopping the binary: SIGTERM and SIGINT exit 0 within a second and leave no
    /// program, map or link of the exporter's in the kernel; SIGKILL leaves none
    /// either (the kernel releases the fds), and a restart attaches again.
    @Suite struct SignalTests {
        /// What the running exporter holds, checked against the kernel and bpftool.
        private func attachedObjects(of exporter: RunningExporter) throws -> HeldKernelObjects {
            let held = try HeldKernelObjects.held(by: exporter.pid)
            // tp_btf (the default): the retransmission program, the SYN-ACK one and the task iterator.
            try #require(held.programIDs.count == 3, "the exporter should hold three programs: \(held)")
            let programs = try Syscalls.kernel.loadedPrograms().filter { held.programIDs.contains($0.id) }
            // The kernel keeps 15 characters of a program name; bpftool shows the whole one from BTF.
            #expect(programs.map(\.name).sorted() == ["netns_tasks", "tcp_retransmit_", "tcp_retransmit_"])
            let listed = try Bpftool.programs().filter { $0.int("id").map { held.programIDs.contains(UInt32($0)) } == true }
            // The default programs: tp_btf, through the ring buffer.
            #expect(Set(listed.map { $0.string("name") })
                    == ["tcp_retransmit_btf_rb", "tcp_retransmit_synack_btf_rb", "netns_tasks"], "bpftool: \(listed)")
            let links = try Bpftool.links().filter { $0.int("prog_id").map { held.programIDs.contains(UInt32($0)) } == true }
            #expect(links.count == 3, "bpftool link show: \(links)")
            let tracepoints = links.filter { $0.string("type") == "raw_tracepoint" }
            #expect(Set(tracepoints.map { $0.string("tp_name") }) == ["tcp_retransmit_skb", "tcp_retransmit_synack"],
                    "bpftool link show: \(links)")
            #expect(links.filter { $0.string("type") == "iter" }.count == 1, "bpftool link show: \(links)")
            return held
        }

        /// Nothing of `held` left in the kernel (ids walked by bpf(2); bpftool as second witness).
        private func expectNothingLeft(of held: HeldKernelObjects, pid: Int32) throws {
            let left = try held.waitUntilUnloaded()
            #expect(left.isEmpty, "still in the kernel after the exporter exited: \(left)")
            let programs = try Bpftool.programs().compactMap { $0.int("id") }.map(UInt32.init)
            #expect(held.programIDs.isDisjoint(with: programs), "bpftool prog show still lists \(held.programIDs)")
            let attachments = try Bpftool.perfAttachments()
            #expect(!attachments.contains { $0.int("pid") == Int(pid) }, "bpftool perf show: \(attachments)")
            #expect(!attachments.contains { $0.int("prog_id").map { held.programIDs.contains(UInt32($0)) } == true })
            let links = try Bpftool.links()
            #expect(!links.contains { $0.int("prog_id").map { held.programIDs.contains(UInt32($0)) } == true },
                    "bpftool link show: \(links)")
        }

        @Test(arguments: [SIGTERM, SIGINT])
        func signalExitsZeroWithinASecondLeavingNothing(signal: Int32) throws {
            let exporter = try RunningExporter.run(port: signal == SIGTERM ? 21203 : 21204)
            defer { exporter.stop(SIGKILL) }
            let held = try attachedObjects(of: exporter)

            let exit = exporter.stop(signal)
            print("e2e signal \(signal): exit \(exit.outcome.status) after \(Int(exit.seconds * 1000)) ms; held \(held)")
            #expect(exit.outcome.status == 0, "\(exit.outcome.output)")
            #expect(exit.seconds < 1, "took \(exit.seconds) s to exit")
            #expect(exit.outcome.stderr.contains("detaching"), "\(exit.outcome.output)")
            try expectNothingLeft(of: held, pid: exporter.pid)
        }

        @Test func sigkillLeavesNothingAndARestartAttachesAgain() throws {
            let first = try RunningExporter.run(port: 21205)
            defer { first.stop(SIGKILL) }
            let firstHeld = try attachedObjects(of: first)
            let killed = first.stop(SIGKILL)
            #expect(killed.outcome.status == 128 + SIGKILL)
            try expectNothingLeft(of: firstHeld, pid: first.pid)

            // Same port, same tracepoint: nothing of the killed one is in the way.
            let second = try RunningExporter.run(port: 21205)
            defer { second.stop(SIGKILL) }
            let secondHeld = try attachedObjects(of: second)
            #expect(secondHeld.programIDs.isDisjoint(with: firstHeld.programIDs))
            #expect(try second.scrape().text.contains("retrans_exporter_build_info{"))
            let exit = second.stop(SIGTERM)
            #expect(exit.outcome.status == 0, "\(exit.outcome.output)")
            try expectNothingLeft(of: secondHeld, pid: second.pid)
        }
    }
}
