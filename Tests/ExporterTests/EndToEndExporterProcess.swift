import Foundation
import KernelTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The built binary running as a child of the test. Signals go to its PID only;
/// if a test fails before stopping it, `deinit` kills and reaps it.
final class ExporterProcess {
    struct Exit {
        var outcome: SpawnedCommand.Outcome
        /// From the signal to the reaped exit.
        var seconds: Double
    }

    let command: SpawnedCommand
    /// 127.0.0.1 port of `run`'s HTTP server; nil for `tail`.
    let port: Int?
    private var exit: Exit?

    var pid: pid_t { command.pid }

    private init(_ arguments: [String], port: Int?) throws {
        command = try SpawnedCommand.start([try ExporterBinary.require()] + arguments)
        self.port = port
    }

    /// `retrans-exporter run --web.listen-address 127.0.0.1:<port> <arguments>`, serving once this returns.
    static func run(port: Int, _ arguments: [String] = []) throws -> ExporterProcess {
        let process = try ExporterProcess(["run", "--web.listen-address", "127.0.0.1:\(port)"] + arguments, port: port)
        try process.waitUntilServing()
        return process
    }

    /// `retrans-exporter tail <arguments>`, attached once this returns.
    static func tail(_ arguments: [String]) throws -> ExporterProcess {
        let process = try ExporterProcess(["tail"] + arguments, port: nil)
        try process.waitUntilAttached()
        return process
    }

    /// False once the process has exited (a zombie not yet reaped counts as exited).
    var isRunning: Bool {
        guard exit == nil, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// `run` serves after it has attached, so a scrape answering means the program is in place.
    func waitUntilServing(timeout: Double = 30) throws {
        guard let port else { return }
        try poll(timeout: timeout, "the exporter to serve on 127.0.0.1:\(port)") { () -> Bool? in
            try failIfExited("serving on 127.0.0.1:\(port)")
            return (try? HTTP.get("http://127.0.0.1:\(port)/metrics")) != nil ? true : nil
        }
    }

    /// Until the kernel reports a program attached to a perf event by this PID (bpftool as
    /// witness), or the process exited 0: `tail --count N` on a busy host can print its N
    /// events and finish before bpftool looks.
    func waitUntilAttached(timeout: Double = 30) throws {
        try poll(timeout: timeout, interval: 0.1, "`\(command.arguments.joined(separator: " "))` to attach") { () -> Bool? in
            if !isRunning, stop(SIGKILL).outcome.status == 0 { return true }
            try failIfExited("attaching")
            return try Bpftool.perfAttachments().contains { $0.int("pid") == Int(pid) } ? true : nil
        }
    }

    func scrape() throws -> String {
        guard let port else { throw EndToEndError("`tail` serves no metrics") }
        return try HTTP.get("http://127.0.0.1:\(port)/metrics")
    }

    /// Sends `signal` and waits (at most `timeout` seconds, then SIGKILL) for the exit.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) -> Exit {
        if let exit { return exit }
        let start = Date()
        command.send(signal)
        let outcome = command.wait(timeoutSeconds: timeout)
        let stopped = Exit(outcome: outcome, seconds: Date().timeIntervalSince(start))
        exit = stopped
        return stopped
    }

    private func failIfExited(_ doing: String) throws {
        guard !isRunning else { return }
        let outcome = stop(SIGKILL).outcome
        throw EndToEndError("the exporter exited (status \(outcome.status)) before \(doing):\n\(outcome.output)")
    }

    deinit { stop(SIGKILL) }
}

/// HTTP GETs through curl: a client that shares no code with the exporter.
enum HTTP {
    static func get(_ url: String, query: [String: String] = [:]) throws -> String {
        var arguments = ["curl", "--silent", "--show-error", "--fail", "--max-time", "10", "--globoff"]
        if !query.isEmpty {
            arguments.append("--get")
            for (name, value) in query.sorted(by: { $0.key < $1.key }) {
                arguments += ["--data-urlencode", "\(name)=\(value)"]
            }
        }
        return try Command.run(arguments + [url], timeout: 20).stdout
    }
}
