import Testing
import Foundation
import ELFReader
import KernelTestSupport
@testable import BPFSyscall

extension KernelTests {
    /// The attached program runs on real retransmissions: lossy transfers between
    /// namespaces, ftrace as the independent count, bpftool as the witness.
    /// Addresses 10.203.1.0/24 and fd00:203::1:0/112, ports 7101-7199, names rtx-ld-*.
    @Suite struct Attaching {
        static let onlineCPUs = (try? CPUList.online().cpus) ?? [0]
        static let flows: [(BulkTransfer.Family, Int)] =
            [BulkTransfer.Family.ipv4, .ipv6].flatMap { family in onlineCPUs.map { (family, $0) } }

        /// Every run of the program is counted once in `stats` (no ring reader is attached, so
        /// every perf output fails fast and lands in emit_failed). Sandwich:
        /// ftrace for the test port ≤ program runs ≤ ftrace for the whole host, with the
        /// ftrace windows placed inside and around the attach window; and runs == run_cnt.
        @Test(arguments: flows)
        func programCountsEveryRetransmission(family: BulkTransfer.Family, cpu: Int) throws {
            let port = UInt16(7101 + (family == .ipv4 ? 0 : 10) + cpu)
            // Held for the whole test: the kernel counts run_cnt/run_time_ns while it lives.
            let statistics = try RuntimeStatistics()
            let host = try FtraceCounter.create(name: "rtx-ld-all", filter: nil, bufferKilobytesPerCPU: 8192)
            defer { host.remove() }

            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants()))
            let program = try object.requiredProgram("tcp_retransmit_skb")
            let attachment = try program.attach()
            let flow = try FtraceCounter.create(name: "rtx-ld-port", filter: FtraceCounter.portFilter(port))
            defer { flow.remove() }

            let lab = try VethNamespaces.create(name: "rtx-ld-\(family.rawValue)", ipv4Network: "10.203.1",
                                                ipv6Network: "fd00:203::1")
            defer { lab.delete() }
            try lab.dropInbound(port: port, oneIn: 10)
            try BulkTransfer(lab: lab, family: family, port: port, bytes: 4 << 20, senderCPU: cpu).run()
            lab.delete()  // no socket left to retransmit

            let flowCount = try flow.stopAndCount()
            attachment.close()
            let counters = try object.requiredMap("stats")
            let emitted = try counters.perCPUCounters(index: 0).reduce(0) { $0 + $1.count }
            let failed = try counters.perCPUCounters(index: 1).reduce(0) { $0 + $1.count }
            let info = try program.info()
            let hostCount = try host.stopAndCount()

            #expect(flowCount > 0, "the lossy transfer caused no retransmission: is the nftables drop working?")
            #expect(emitted == 0, "no ring reader: every perf output must fail")
            // A hit the kernel skipped (another BPF program running on that CPU: a co-tenant on
            // a shared host) is declared in recursion_misses, host-wide.
            #expect(UInt64(flowCount) <= failed + info.recursionMisses,
                    "program missed retransmissions of the test flow (\(info.recursionMisses) declared misses)")
            #expect(failed <= UInt64(hostCount), "program ran more often than the tracepoint fired")
            #expect(info.runCount == emitted + failed, "run_cnt and the program's own count disagree")
            let cost = info.averageRunTimeNanoseconds.map { String(format: "%.0f", $0) } ?? "-"
            print("retrans.o \(family.rawValue) cpu \(cpu): flow \(flowCount), program \(failed), host \(hostCount),"
                  + " recursion misses \(info.recursionMisses);"
                  + " in-kernel \(cost) ns/event over \(info.runCount) runs (perf output failing fast)")
            statistics.close()
        }

        /// The in-kernel cost per event of retrans.o with no ring reader (perf output fails
        /// fast on the empty perf event array), over a few hundred retransmissions.
        @Test func measuresInKernelCostPerEvent() throws {
            let statistics = try RuntimeStatistics()
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants()))
            let program = try object.requiredProgram("tcp_retransmit_skb")
            let attachment = try program.attach()
            let lab = try VethNamespaces.create(name: "rtx-ld-cost", ipv4Network: "10.203.1", ipv6Network: "fd00:203::1")
            defer { lab.delete() }
            let port: UInt16 = 7140
            try lab.dropInbound(port: port, oneIn: 10)
            for round in 0..<6 {
                try BulkTransfer(lab: lab, family: round % 2 == 0 ? .ipv4 : .ipv6, port: port, bytes: 8 << 20,
                                 senderCPU: Self.onlineCPUs[round % Self.onlineCPUs.count]).run()
            }
            lab.delete()
            attachment.close()
            let info = try program.info()
            let stats = try object.requiredMap("stats")
            let runs = try stats.perCPUCounters(index: 0).reduce(0) { $0 + $1.count }
                + stats.perCPUCounters(index: 1).reduce(0) { $0 + $1.count }
            #expect(info.runCount == runs)
            #expect(info.runCount >= 50, "too few retransmissions to measure")
            let cost = info.averageRunTimeNanoseconds.map { String(format: "%.0f", $0) } ?? "-"
            print("retrans.o in-kernel cost, no ring reader: \(cost) ns/event over \(info.runCount) runs"
                  + " (run_time_ns \(info.runTimeNanoseconds))")
            statistics.close()
        }

        @Test func ioctlAttachIsVisibleToBpftoolAndRuns() throws {
            let port: UInt16 = 7130
            // Held for the whole test: the kernel counts run_cnt/run_time_ns while it lives.
            let statistics = try RuntimeStatistics()
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants()))
            let program = try object.requiredProgram("tcp_retransmit_skb")
            let id = try program.info().id
            let attachment = try program.attach(method: .perfEventIoctl)
            #expect(attachment.method == .perfEventIoctl)
            let linkFD = attachment.linkFD
            let perfEventFD = attachment.perfEvent.rawValue
            #expect(linkFD == nil)

            // No link; bpftool finds the attachment through our process's perf event fd.
            #expect(try Bpftool.links().allSatisfy { $0.int("prog_id") != Int(id) })
            let perf = try Bpftool.perfAttachments().filter { $0.int("prog_id") == Int(id) }
            #expect(perf.count == 1)
            #expect(perf.first?.int("pid") == Int(getpid()))
            #expect(perf.first?.int("fd") == Int(perfEventFD))
            #expect(perf.first?.string("tracepoint") == "tcp_retransmit_skb")

            let flow = try FtraceCounter.create(name: "rtx-ld-ioctl", filter: FtraceCounter.portFilter(port))
            defer { flow.remove() }
            let lab = try VethNamespaces.create(name: "rtx-ld-ioctl", ipv4Network: "10.203.1", ipv6Network: "fd00:203::1")
            defer { lab.delete() }
            try lab.dropInbound(port: port)
            try BulkTransfer(lab: lab, family: .ipv4, port: port, bytes: 2 << 20).run()
            lab.delete()
            let flowCount = try flow.stopAndCount()
            let runs = try object.requiredMap("stats").perCPUCounters(index: 1).reduce(0) { $0 + $1.count }
            #expect(flowCount > 0)
            let misses = try program.info().recursionMisses
            #expect(runs + misses >= UInt64(flowCount),
                    "the ioctl-attached program did not run for every retransmission (\(misses) declared misses)")

            attachment.close()
            #expect(try Bpftool.perfAttachments().allSatisfy { $0.int("prog_id") != Int(id) }, "closing detaches")
            object.close()
            #expect(try KernelWitness.programIsGone(id))
            statistics.close()
        }

        /// Kernels without perf links answer BPF_LINK_CREATE with EINVAL or EOPNOTSUPP:
        /// a fake link call plays such a kernel; everything else is real.
        @Test(arguments: [EINVAL, EOPNOTSUPP])
        func automaticAttachFallsBackWhenLinksAreMissing(errno: Int32) throws {
            var syscalls = Syscalls.kernel
            syscalls.linkCreatePerfEvent = { _, _ in -errno }
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants(), syscalls: syscalls))
            let program = try object.requiredProgram("tcp_retransmit_skb")
            let attachment = try program.attach()
            #expect(attachment.method == .perfEventIoctl)
            let id = try program.info().id
            #expect(try Bpftool.perfAttachments().contains { $0.int("prog_id") == Int(id) })
            attachment.close()
        }

        @Test func otherLinkErrorsAreNotHiddenByTheFallback() throws {
            var syscalls = Syscalls.kernel
            syscalls.linkCreatePerfEvent = { _, _ in -EPERM }
            let object = try LoadedObject(loading: try TestObjects.retrans(),
                                          options: LoadOptions(constants: TestObjects.retransConstants(), syscalls: syscalls))
            let before = KernelWitness.openBPFDescriptors()
            let error = try #require(throws: ContextError.self) { _ = try object.attach(program: "tcp_retransmit_skb") }
            #expect(error.rootCause as? SyscallError == SyscallError(call: "BPF_LINK_CREATE", errno: EPERM))
            #expect(error.description == "attach to tracepoint tcp/tcp_retransmit_skb: BPF_LINK_CREATE failed:"
                    + " EPERM: Operation not permitted (needs root, or CAP_BPF + CAP_PERFMON)")
            #expect(KernelWitness.openBPFDescriptors() == before, "the perf event was not closed")
        }
    }
}
