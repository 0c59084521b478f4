import BPFSyscall
import KernelTestSupport
import Testing
@testable import Exporter
#if canImport(Glibc)
import Glibc
#endif

/// scripts/chaos.sh for real: it makes retransmissions (counted by a private
/// ftrace instance on the tracepoint, filtered to the script's port), sends
/// nothing outside its namespaces, and leaves nothing behind, also when
/// interrupted. Namespaces rtx-ch-*, ports 7411-7419.
@Suite("chaos.sh", .serialized)
struct ChaosScriptTests {
    static let script = TestPaths.repositoryRoot + "/scripts/chaos.sh"
    static let tracing = "/sys/kernel/tracing"
    static let canRun = KernelTestEnvironment.isRoot
        && SystemFile.exists(tracing + "/instances")
        && ["ip", "nft", "python3"].allSatisfy { Command.which($0) != nil }
    static let skipReason: Comment = "needs root, tracefs at /sys/kernel/tracing, ip, nft and python3"

    @Test(.enabled(if: canRun, skipReason), arguments: [(false, 7411), (true, 7412)])
    func makesRetransmissionsAndCleansUp(ipv6: Bool, port: Int) throws {
        let prefix = ipv6 ? "rtx-ch-t6" : "rtx-ch-t4"
        let linksBefore = try Self.hostLinks()
        let trace = try FtraceCounter.create(name: "\(prefix)-\(getpid())", filter: "dport == \(port)")
        defer { trace.remove() }
        defer { Self.forceCleanup(prefix: prefix) }

        var command = [Self.script, "--duration", "3", "--port", "\(port)", "--ns-prefix", prefix]
        if ipv6 { command.append("--ipv6") }
        let outcome = try Command.run(command, timeout: 60, check: false)
        let counted = try trace.stopAndCount()  // throws if ftrace overran

        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.stdout.contains(ipv6 ? "[fd00:203::4:1] -> " : "[10.203.4.1] -> "), "\(outcome.output)")
        #expect(outcome.stdout.contains("loss: "), "\(outcome.output)")
        #expect(counted > 0, "no retransmission to port \(port) in the ftrace instance: \(outcome.output)")
        #expect(try Self.namespaces(prefix: prefix).isEmpty)
        #expect(try !Self.hostNftables().contains("rtx_chaos"))
        #expect(try Self.hostLinks() == linksBefore, "a host interface appeared or vanished")
    }

    @Test(.enabled(if: canRun, skipReason), arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func signalMidRunCleansUp(signal: Int32, expectedStatus: Int32) throws {
        let prefix = signal == SIGINT ? "rtx-ch-ti" : "rtx-ch-tt"
        defer { Self.forceCleanup(prefix: prefix) }
        let linksBefore = try Self.hostLinks()
        let chaos = try Command.start([Self.script, "--duration", "120", "--port", "7413", "--ns-prefix", prefix])

        // Wait until both hosts exist and traffic flows, then interrupt.
        var running = false
        for _ in 0..<150 {
            if try Self.namespaces(prefix: prefix).count == 2 { running = true; break }
            usleep(100_000)
        }
        usleep(1_500_000)
        #expect(running, "the namespaces never appeared")
        #expect(try Self.hostLinks() == linksBefore, "chaos.sh touched the host's interfaces")

        let interrupted = ChaosScriptTests.monotonicSeconds()
        let outcome = chaos.stop(signal, timeout: 20)
        let took = ChaosScriptTests.monotonicSeconds() - interrupted

        #expect(outcome.status == expectedStatus, "\(outcome.output)")
        #expect(outcome.stderr.contains("interrupted, cleaning up"), "\(outcome.output)")
        #expect(took < 5, "cleanup took \(took) s")
        #expect(try Self.namespaces(prefix: prefix).isEmpty)
        #expect(try !Self.hostNftables().contains("rtx_chaos"))
    }

    /// A namespace the script did not create is never deleted: it refuses to run.
    @Test(.enabled(if: canRun, skipReason))
    func refusesToReuseExistingNamespaces() throws {
        let prefix = "rtx-ch-tx"
        defer { Self.forceCleanup(prefix: prefix) }
        let created = try Command.run(["ip", "netns", "add", prefix + "-a"], check: false)
        try #require(created.status == 0, "\(created.output)")
        let outcome = try Command.run([Self.script, "--duration", "1", "--port", "7414", "--ns-prefix", prefix], check: false)
        #expect(outcome.status == 2, "\(outcome.output)")
        #expect(outcome.stderr.contains("already exists"), "\(outcome.output)")
        #expect(try Self.namespaces(prefix: prefix) == [prefix + "-a"], "it deleted or added a namespace")
    }

    @Test(arguments: [
        ["--loss", "101"], ["--loss", "ten"], ["--duration", "0"], ["--port", "70000"],
        ["--ns-prefix", "prod"], ["--mode", "loopback"], ["--bogus"],
        ["--cgroup", "relative/path"], ["--cgroup", "/a/../b"], ["--cgroup", "/with space"],
    ])
    func rejectsBadOptions(arguments: [String]) throws {
        let outcome = try Command.run([Self.script] + arguments, check: false)
        #expect(outcome.status == 2, "\(arguments): \(outcome.output)")
        #expect(outcome.stderr.hasPrefix("chaos.sh: "), "\(outcome.output)")
    }

    @Test func helpSaysThereIsNoHostMode() throws {
        let outcome = try Command.run([Self.script, "--help"], check: false)
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("--loss PCT"))
        #expect(outcome.stdout.contains("never modified"))
    }

    // MARK: witnesses

    static func namespaces(prefix: String) throws -> [String] {
        let listed = try Command.run(["ip", "netns", "list"], check: false)
        return listed.stdout.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix + "-") }
            .sorted()
    }

    static func hostNftables() throws -> String {
        try Command.run(["nft", "list", "tables"], check: false).stdout
    }

    /// The host's interface names (not their counters or states).
    static func hostLinks() throws -> [String] {
        try Command.run(["ip", "-o", "link", "show"], check: false).stdout.split(separator: "\n")
            .compactMap { $0.split(separator: ":").dropFirst().first.map { String(KernelText.trimmed($0)) } }
            .sorted()
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// After a failed test: the script's own cleanup mode, for our prefix only.
    static func forceCleanup(prefix: String) {
        _ = try? Command.run([script, "--cleanup", "--ns-prefix", prefix], timeout: 30, check: false)
    }
}
