import Foundation
import KernelTestSupport
import Testing

/// `UnrunHits.onInitThreads` reads the task ftrace printed (`comm-TID`) and asks /proc whether it
/// is a thread of PID 1: no kernel tracing needed, only /proc.
@Suite struct UnrunHitsTests {
    static func line(task: String, cpu: String = "000") -> String {
        "\(task)  [\(cpu)] ..s2. 27726.884844: tcp_retransmit_skb: skbaddr=00000000d8548cbe sport=35981 dport=7750"
    }

    @Test func countsOnlyHitsTakenOnThreadsOfPID1() throws {
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/1/task").compactMap { Int($0) }
        let initThread = try #require(threads.first, "PID 1 has a thread")
        let ours = Int(getpid())
        try #require(ours != 1 && !threads.contains(ours))
        let lines = [
            Self.line(task: "          <idle>-0     "),
            Self.line(task: "  some-init-thread-\(initThread)"),  // comm with dashes: the TID is after the last one
            Self.line(task: "         python3-\(ours)"),
            Self.line(task: "  some-init-thread-\(initThread)", cpu: "001"),
            "# tracer: nop",
            "garbage-without-a-cpu-field",
        ]
        #expect(UnrunHits.onInitThreads(lines: lines) == 2)
        #expect(UnrunHits.onInitThreads(lines: []) == 0)
    }
}
