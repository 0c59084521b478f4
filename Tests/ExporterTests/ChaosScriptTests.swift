import BPFSyscall
import Testing
@testable import Exporter
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// scripts/chaos.sh for real: it makes retransmissions (counted by a private
/// ftrace instance on the tracepoint, filtered to the script's port), sends
/// nothing outside its namespaces, and leaves nothing behind, also when
/// interrupted. Namespaces rtx-ch-*, ports 7411-7419.
@Suite("chaos.sh", .serialized)
struct ChaosScriptTests {
    static let script = DeployTestPaths.repositoryRoot + "/scripts/chaos.sh"
    static let tracing = "/sys/kernel/tracing"
    static let canRun = DeployTestPaths.isRoot
        && SystemFile.exists(tracing + "/instances")
        && ["ip", "nft", "python3"].allSatisfy { DeployTestPaths.which($0) != nil }
    static let skipReason: Comment = "needs root, tracefs at /sys/kernel/tracing, ip, nft and python3"

    @Test(.enabled(if: canRun, skipReason), arguments: [(false, 7411), (true, 7412)])
    func makesRetransmissionsAndCleansUp(ipv6: Bool, port: Int) throws {
        let prefix = ipv6 ? "rtx-ch-t6" : "rtx-ch-t4"
        let linksBefore = try Self.hostLinks()
        let trace = try TracepointWitness(name: "\(prefix)-\(getpid())", filter: "dport == \(port)")
        defer { trace.remove() }
        defer { Self.forceCleanup(prefix: prefix) }

        var command = [Self.script, "--duration", "3", "--port", "\(port)", "--ns-prefix", prefix]
        if ipv6 { command.append("--ipv6") }
        let outcome = try SpawnedCommand.run(command, timeoutSeconds: 60)
        let counted = try trace.stop()

        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.stdout.contains(ipv6 ? "[fd00:203::4:1] -> " : "[10.203.4.1] -> "), "\(outcome.output)")
        #expect(outcome.stdout.contains("loss: "), "\(outcome.output)")
        #expect(counted.hits > 0, "no retransmission to port \(port) in the ftrace instance: \(outcome.output)")
        #expect(counted.overruns == 0)
        #expect(try Self.namespaces(prefix: prefix).isEmpty)
        #expect(try !Self.hostNftables().contains("rtx_chaos"))
        #expect(try Self.hostLinks() == linksBefore, "a host interface appeared or vanished")
    }

    @Test(.enabled(if: canRun, skipReason), arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func signalMidRunCleansUp(signal: Int32, expectedStatus: Int32) throws {
        let prefix = signal == SIGINT ? "rtx-ch-ti" : "rtx-ch-tt"
        defer { Self.forceCleanup(prefix: prefix) }
        let linksBefore = try Self.hostLinks()
        let chaos = try SpawnedCommand.start([Self.script, "--duration", "120", "--port", "7413", "--ns-prefix", prefix])

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
        chaos.send(signal)
        let outcome = chaos.wait(timeoutSeconds: 20)
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
        let created = try SpawnedCommand.run(["ip", "netns", "add", prefix + "-a"])
        try #require(created.status == 0, "\(created.output)")
        let outcome = try SpawnedCommand.run([Self.script, "--duration", "1", "--port", "7414", "--ns-prefix", prefix])
        #expect(outcome.status == 2, "\(outcome.output)")
        #expect(outcome.stderr.contains("already exists"), "\(outcome.output)")
        #expect(try Self.namespaces(prefix: prefix) == [prefix + "-a"], "it deleted or added a namespace")
    }

    @Test(arguments: [
        ["--loss", "101"], ["--loss", "ten"], ["--duration", "0"], ["--port", "70000"],
        ["--ns-prefix", "prod"], ["--mode", "loopback"], ["--bogus"],
    ])
    func rejectsBadOptions(arguments: [String]) throws {
        let outcome = try SpawnedCommand.run([Self.script] + arguments)
        #expect(outcome.status == 2, "\(arguments): \(outcome.output)")
        #expect(outcome.stderr.hasPrefix("chaos.sh: "), "\(outcome.output)")
    }

    @Test func helpSaysThereIsNoHostMode() throws {
        let outcome = try SpawnedCommand.run([Self.script, "--help"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("--loss PCT"))
        #expect(outcome.stdout.contains("never modified"))
    }

    // MARK: witnesses

    static func namespaces(prefix: String) throws -> [String] {
        let listed = try SpawnedCommand.run(["ip", "netns", "list"])
        return listed.stdout.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix + "-") }
            .sorted()
    }

    static func hostNftables() throws -> String {
        try SpawnedCommand.run(["nft", "list", "tables"]).stdout
    }

    /// The host's interface names (not their counters or states).
    static func hostLinks() throws -> [String] {
        try SpawnedCommand.run(["ip", "-o", "link", "show"]).stdout.split(separator: "\n")
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
        _ = try? SpawnedCommand.run([script, "--cleanup", "--ns-prefix", prefix], timeoutSeconds: 30)
    }
}

/// A private ftrace instance counting one tracepoint under a filter: the
/// independent witness. Removed by `remove()` whatever happened.
struct TracepointWitness {
    let directory: String
    let event: String

    init(name: String, filter: String, event: String = "tcp/tcp_retransmit_skb") throws {
        directory = "\(ChaosScriptTests.tracing)/instances/\(name)"
        self.event = event
        guard mkdir(directory, 0o755) == 0 else { throw FileReadError(path: directory, errno: errno) }
        do {
            try Self.write("\(directory)/events/\(event)/filter", filter)
            try Self.write("\(directory)/events/\(event)/enable", "1")
        } catch {
            rmdir(directory)
            throw error
        }
    }

    /// Disables the event and counts what it recorded; overruns are lost records.
    func stop() throws -> (hits: Int, overruns: Int) {
        try Self.write("\(directory)/events/\(event)/enable", "0")
        let trace = try SystemFile.readString("\(directory)/trace")
        let hits = trace.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
        var overruns = 0
        var cpu = 0
        while let stats = try? SystemFile.readString("\(directory)/per_cpu/cpu\(cpu)/stats") {
            for line in stats.split(separator: "\n") where line.hasPrefix("overrun:") {
                overruns += Int(KernelText.trimmed(line.dropFirst("overrun:".count))) ?? 0
            }
            cpu += 1
        }
        return (hits, overruns)
    }

    func remove() {
        try? Self.write("\(directory)/events/\(event)/enable", "0")
        rmdir(directory)
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw FileReadError(path: path, errno: errno) }
    }
}
