import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a finished command.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var arguments: [String]
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var succeeded: Bool { status == 0 }

    public var description: String {
        "`\(arguments.joined(separator: " "))` exited \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
    }
}

public enum CommandError: Error, CustomStringConvertible {
    case failed(CommandResult)
    case timedOut(CommandResult, seconds: Double)
    case cannotStart([String], String)

    public var description: String {
        switch self {
        case .failed(let result): return "command failed: \(result)"
        case .timedOut(let result, let seconds): return "command killed after \(seconds) s: \(result)"
        case .cannotStart(let arguments, let reason): return "cannot start `\(arguments.joined(separator: " "))`: \(reason)"
        }
    }
}

/// Runs programs for tests: output captured in temporary files (no pipe can fill
/// up and block the child), a deadline after which the child is killed by its PID.
public enum Command {
    /// Runs `arguments` (the first is looked up on PATH) and waits.
    /// With `check`, a non-zero exit throws `CommandError.failed`.
    @discardableResult
    public static func run(_ arguments: [String], timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        let process = try start(arguments)
        let result = try process.wait(timeout: timeout)
        if check && !result.succeeded { throw CommandError.failed(result) }
        return result
    }

    /// Runs a line with `/bin/sh -c`.
    @discardableResult
    public static func shell(_ script: String, timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        try run(["/bin/sh", "-c", script], timeout: timeout, check: check)
    }

    /// Starts `arguments` in the background. Call `wait` (or `kill`) on the result.
    public static func start(_ arguments: [String]) throws -> BackgroundCommand {
        try BackgroundCommand(arguments)
    }
}

/// A child process started by a test. `kill()` signals only this PID.
public final class BackgroundCommand: @unchecked Sendable {
    // Unchecked: Process is not Sendable; each test uses its children from one task.
    public let arguments: [String]
    private let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL

    init(_ arguments: [String]) throws {
        guard let executable = arguments.first else { throw CommandError.cannotStart(arguments, "no program") }
        self.arguments = arguments
        let directory = FileManager.default.temporaryDirectory
        let unique = UUID().uuidString
        stdoutURL = directory.appendingPathComponent("rtx-cmd-\(unique).out")
        stderrURL = directory.appendingPathComponent("rtx-cmd-\(unique).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(arguments.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        do {
            try process.run()
        } catch {
            cleanUpFiles()
            throw CommandError.cannotStart(arguments, "\(error)")
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits up to `timeout` seconds; past that, kills the child and throws `CommandError.timedOut`.
    public func wait(timeout: Double) throws -> CommandResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill()
            throw CommandError.timedOut(collect(), seconds: timeout)
        }
        return collect()
    }

    /// SIGKILL to this child only, then reap it.
    public func kill() {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private func collect() -> CommandResult {
        if process.isRunning { process.waitUntilExit() }
        let stdout = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        cleanUpFiles()
        return CommandResult(arguments: arguments, status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    private func cleanUpFiles() {
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }

    deinit {
        if process.isRunning { kill() }
        cleanUpFiles()
    }
}
