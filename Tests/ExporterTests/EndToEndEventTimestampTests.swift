import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

extension EndToEnd {
    /// `run` counts and shows no event times, so it loads the programs with
    /// `event_timestamps = 0` and the verifier drops their clock read; `tail` shows times and
    /// keeps it. The witness is bpftool's dump of the programs the kernel runs, for both
    /// attachments and both transports.
    @Suite struct EventTimestampTests {
        /// The instruction, not the source line bpftool prints beside it.
        static let clockCall = "call bpf_ktime_get_boot_ns"

        /// bpftool's translated dump of every retransmission program `pid` holds (not the
        /// task iterator, which reads no clock), by name.
        private func dumps(of pid: Int32) throws -> [String: String] {
            let held = try HeldKernelObjects.held(by: pid)
            var dumps: [String: String] = [:]
            for program in try Bpftool.programs() {
                guard let id = program.int("id"), held.programIDs.contains(UInt32(id)),
                      let name = program.string("name"), name.hasPrefix("tcp_retransmit") else { continue }
                dumps[name] = try Command.run(["bpftool", "prog", "dump", "xlated", "id", String(id)]).stdout
            }
            return dumps
        }

        @Test(arguments: [["--bpf.attach", "tp_btf", "--ring.kind", "ringbuf"],
                          ["--bpf.attach", "tracepoint", "--ring.kind", "perf"]])
        func runDropsTheClockReadAndTailKeepsIt(flags: [String]) throws {
            let counting = try {
                let run = try RunningExporter.run(port: 21424, flags)
                defer { _ = run.stop() }
                return try dumps(of: run.pid)
            }()
            let showing = try {
                let tail = try RunningExporter.tail(flags)
                defer { _ = tail.stop() }
                return try dumps(of: tail.pid)
            }()

            let expectedPrograms = flags.contains("tp_btf") ? 2 : 1  // tp_btf adds the SYN-ACK program
            try #require(counting.count == expectedPrograms, "run's programs: \(counting.keys.sorted())")
            try #require(showing.count == expectedPrograms, "tail's programs: \(showing.keys.sorted())")
            for (name, dump) in counting {
                #expect(!dump.contains(Self.clockCall), "run's \(name) still reads the clock:\n\(dump)")
                #expect(dump.contains("call bpf_ringbuf_submit") || dump.contains("call bpf_perf_event_output"),
                        "run's \(name) does not output at all:\n\(dump)")
            }
            for (name, dump) in showing {
                #expect(dump.contains(Self.clockCall), "tail's \(name) reads no clock:\n\(dump)")
            }
        }
    }
}
