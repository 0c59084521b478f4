import Foundation
import Testing
import KernelTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The built `retrans-exporter run`, started by a test: its log in a file the
/// test reads while it runs, its metrics scraped with curl (an outside client),
/// signalled only by its own PID.
final class RunningExporter: @unchecked Sendable {
    // Unchecked: each test drives its exporter from one task.
    let arguments: [String]
    let port: UInt16
    let logPath: String
    private let process = Process()

    /// The log line `run` writes once privileges are dropped: the last step of startup.
    static let readyLine = "dropped every capability"

    /// The debug build next to the tests, or `RTX_HD_EXPORTER` (e.g. a release build, for RSS figures).
    static var binary: String? {
        ProcessInfo.processInfo.environment["RTX_HD_EXPORTER"] ?? DeployTestPaths.exporterBinary
    }

    static var canRun: Bool { KernelTestEnvironment.isRoot && binary != nil && DeployTestPaths.which("curl") != nil }
    static let skipReason = "needs root, curl and the built retrans-exporter (swift build) next to the tests"

    /// Starts `[wrapper...] retrans-exporter run --web.listen-address 127.0.0.1:<port> <arguments>`.
    /// `wrapper` runs the binary under another command (setpriv, prlimit); `binary` replaces the
    /// built one (e.g. a world-readable copy for another user).
    init(port: UInt16, arguments: [String] = [], wrapper: [String] = [], binary: String? = nil) throws {
        guard let binary = binary ?? Self.binary else { throw ExporterTestError("retrans-exporter binary not built") }
        self.port = port
        self.arguments = wrapper + [binary, "run", "--web.listen-address", "127.0.0.1:\(port)"] + arguments
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-hd-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let command = self.arguments
        if let executable = command.first, executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(command.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
        }
        process.standardInput = FileHandle.nullDevice
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text`; throws with the log if the exporter exits or time runs out.
    func waitForLog(_ text: String = RunningExporter.readyLine, timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return }
            if !process.isRunning {
                throw ExporterTestError("exporter exited (\(process.terminationStatus)) before logging `\(text)`:\n\(log)")
            }
            usleep(20_000)
        }
        throw ExporterTestError("no `\(text)` in the exporter's log after \(timeout) s:\n\(log)")
    }

    /// GET /metrics with curl; throws unless it answers 200.
    func scrape(timeout: Double = 20) throws -> ScrapedMetrics {
        let result = try Command.run(["curl", "-sS", "--fail", "--max-time", "\(Int(timeout))",
                                      "http://127.0.0.1:\(port)/metrics"], timeout: timeout + 5, check: false)
        guard result.succeeded else { throw ExporterTestError("scrape failed: \(result)\nexporter log:\n\(log)") }
        return ScrapedMetrics(text: result.stdout)
    }

    /// Sends `signal` to the exporter (only its PID) and waits for it to exit; returns
    /// the exit code, or 128 + the signal number.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 10) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return exitStatus
    }

    /// Waits for the exporter to exit by itself (a startup failure); SIGKILL after `timeout`.
    func waitForExit(timeout: Double = 60) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return stop(signal: SIGKILL)
    }

    private var exitStatus: Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Peak and current resident set size (`VmHWM`, `VmRSS` in /proc/PID/status), in KiB.
    func memory() throws -> (peakKiB: Int, currentKiB: Int) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { Int($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) }
        }
        guard let peak = field("VmHWM"), let current = field("VmRSS") else {
            throw ExporterTestError("no VmHWM/VmRSS in /proc/\(pid)/status")
        }
        return (peak, current)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

struct ExporterTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One scrape in the Prometheus text format, parsed by the test (not by the exporter's code).
struct ScrapedMetrics: CustomStringConvertible {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let text: String
    let samples: [Sample]

    init(text: String) {
        self.text = text
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                // Label values here never contain `",` (addresses, ports, names).
                let body = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in body.split(separator: "\",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            } else {
                name = series
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        self.samples = samples
    }

    /// The value of an unlabelled metric (or the first series of a labelled one).
    func value(_ name: String) -> Double? { samples.first { $0.name == name }?.value }

    /// The sum over the series of `name` whose labels pass `filter`.
    func sum(_ name: String, where filter: ([String: String]) -> Bool = { _ in true }) -> Double {
        samples.filter { $0.name == name && filter($0.labels) }.reduce(0) { $0 + $1.value }
    }

    func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    var description: String { text }
}

/// One thread's credentials from /proc/PID/task/TID/status, read by the test itself.
struct ObservedThread: CustomStringConvertible {
    var id: String
    var name: String
    var fields: [String: String]

    /// Every thread of process `pid`.
    static func all(of pid: Int32) throws -> [ObservedThread] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").sorted()
        return try tasks.map { task in
            let status = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)
            var fields: [String: String] = [:]
            for line in status.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return ObservedThread(id: task, name: fields["Name"] ?? "?", fields: fields)
        }
    }

    /// A capability set's mask (`CapEff`, `CapPrm`, ...), nil if absent or not hexadecimal.
    func mask(_ field: String) -> UInt64? { fields[field].flatMap { UInt64($0, radix: 16) } }

    /// The four ids of a `Uid:`/`Gid:` line.
    func ids(_ field: String) -> [String] {
        (fields[field] ?? "").split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
    }

    var description: String {
        let keys = ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"]
        return "thread \(id) (\(name)): " + keys.map { "\($0)=\(fields[$0] ?? "-")" }.joined(separator: " ")
    }
}

/// The retransmissions an ftrace instance recorded, split the way the exporter splits them.
struct FtraceRetransmissions {
    var succeeded = 0
    var failed = 0

    init(lines: [String]) {
        for line in lines {
            if line.hasSuffix(" err=0") { succeeded += 1 } else { failed += 1 }
        }
    }
}

extension ScrapedMetrics {
    /// The exactness identity of one flow, misses included: every hit ftrace recorded of the
    /// flow was counted (successes and failures apart) or skipped by the kernel as a recursion
    /// miss (declared host-wide: an upper bound for the flow's share, since a co-tenant BPF
    /// program on a shared host can cause them); nothing was counted that did not happen. With
    /// no miss declared, both counts equal ftrace's exactly. Returns the figures, for printing.
    @discardableResult
    func expectFlowCounts(_ truth: FtraceRetransmissions, port: UInt16,
                          sourceLocation: SourceLocation = #_sourceLocation) -> (counted: Int, failed: Int, missed: Int) {
        let flow: ([String: String]) -> Bool = { $0["src_port"] == "\(port)" || $0["dst_port"] == "\(port)" }
        let counted = sum("tcp_retransmissions_total", where: flow)
        let failed = sum("tcp_retransmission_failures_total", where: flow)
        let missed = value("retrans_exporter_bpf_recursion_misses_total") ?? 0
        let recorded = Double(truth.succeeded + truth.failed)
        #expect(counted <= Double(truth.succeeded) && failed <= Double(truth.failed)
                    && counted + failed + missed >= recorded,
                "ftrace \(truth.succeeded) + \(truth.failed) failed, exporter \(counted) + \(failed), missed \(missed)",
                sourceLocation: sourceLocation)
        if missed == 0 {
            #expect(counted == Double(truth.succeeded), "\(self)", sourceLocation: sourceLocation)
            #expect(failed == Double(truth.failed), sourceLocation: sourceLocation)
        }
        return (Int(counted), Int(failed), Int(missed))
    }
}
