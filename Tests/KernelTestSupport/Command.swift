import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a finished command.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var arguments: [String]
    /// The exit code, or 128 + the signal number if a signal ended it (as a shell reports it).
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var succeeded: Bool { status == 0 }
    /// Both streams, stdout first.
    public var output: String { stdout + stderr }

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

/// The one way tests run programs: `posix_spawnp` (safe from many test threads at
/// once), output captured in temporary files (no pipe can fill up and block the
/// child), stdin from `/dev/null` or the given text, every signal at its default
/// disposition and none blocked (so a script can trap SIGINT/SIGTERM), no
/// descriptor of the test process inherited, a deadline after which the child is
/// killed by its PID.
public enum Command {
    /// Runs `arguments` (the first is looked up on PATH unless it contains a `/`) and waits.
    /// With `check`, a non-zero exit throws `CommandError.failed`.
    /// `environment` adds to (or replaces entries of) the test's own environment.
    @discardableResult
    public static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:],
                           timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        let process = try start(arguments, input: input, environment: environment)
        let result = try process.wait(timeout: timeout)
        if check && !result.succeeded { throw CommandError.failed(result) }
        return result
    }

    /// Runs a line with `/bin/sh -c`.
    @discardableResult
    public static func shell(_ script: String, timeout: Double = 120, check: Bool = true) throws -> CommandResult {
        try run(["/bin/sh", "-c", script], timeout: timeout, check: check)
    }

    /// Starts `arguments` in the background. Call `wait`, `stop` or `kill` on the result.
    public static func start(_ arguments: [String], input: String? = nil,
                             environment: [String: String] = [:]) throws -> BackgroundCommand {
        try BackgroundCommand(arguments, input: input, environment: environment)
    }

    /// The path of `tool` on PATH, nil when it is not installed (tests then skip with a reason).
    public static func which(_ tool: String) -> String? {
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static var searchPath: String { getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin" }

    /// The test's environment with `overrides` applied; messages of the tools in a fixed locale.
    static func environment(_ overrides: [String: String]) -> [String] {
        var variables = ProcessInfo.processInfo.environment
        variables["LANG"] = "C.UTF-8"
        variables["LC_ALL"] = "C.UTF-8"
        variables["PATH"] = searchPath
        for (name, value) in overrides { variables[name] = value }
        return variables.map { "\($0.key)=\($0.value)" }.sorted()
    }
}

/// A child process started by a test. Signals go to this PID only, and never after
/// it has been reaped (the PID could belong to someone else by then).
public final class BackgroundCommand: @unchecked Sendable {
    // Unchecked: the mutable state (the wait status, the collected result) is behind `lock`.
    public let arguments: [String]
    public let pid: Int32
    private let directory: String
    private let lock = NSLock()
    private var waitStatus: Int32?
    private var result: CommandResult?

    init(_ arguments: [String], input: String?, environment: [String: String]) throws {
        guard let program = arguments.first else { throw CommandError.cannotStart(arguments, "no program") }
        self.arguments = arguments
        var template = Array("/tmp/rtx-cmd.XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw CommandError.cannotStart(arguments, "mkdtemp: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        do {
            pid = try Self.spawn(program, arguments, environment: Command.environment(environment),
                                 stdin: try Self.stdin(input, in: directory), in: directory)
        } catch {
            Self.removeFiles(in: directory)
            throw error
        }
    }

    private static func stdin(_ input: String?, in directory: String) throws -> String {
        guard let input else { return "/dev/null" }
        let path = directory + "/stdin"
        guard FileManager.default.createFile(atPath: path, contents: Data(input.utf8)) else {
            throw CommandError.cannotStart([], "cannot write the input to \(path)")
        }
        return path
    }

    /// glibc (2.34+) declares it only under _GNU_SOURCE, which the Glibc module is not built with.
    private static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return { _, _ in ENOSYS }
        }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func spawn(_ program: String, _ arguments: [String], environment: [String], stdin: String,
                              in directory: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, directory + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Descriptors the test holds without O_CLOEXEC (BPF objects, sockets) stay out of the child.
        guard Self.addCloseFrom(&actions, 3) == 0 else {
            throw CommandError.cannotStart(arguments, "posix_spawn_file_actions_addclosefrom_np failed")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let failure = posix_spawnp(&pid, program, &actions, &attributes, argv, envp)
        guard failure == 0 else { throw CommandError.cannotStart(arguments, String(cString: strerror(failure))) }
        return pid
    }

    /// False once the child has exited (it is reaped here).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// What the child has written to stdout so far (it may still be running; after the exit, all of it).
    public var stdoutSoFar: String { lock.withLock { result?.stdout } ?? Self.read(directory + "/stdout") }
    /// What the child has written to stderr so far.
    public var stderrSoFar: String { lock.withLock { result?.stderr } ?? Self.read(directory + "/stderr") }

    /// Sends `signal` to the child, unless it has already been reaped.
    public func send(_ signal: Int32) {
        lock.withLock {
            if waitStatus == nil { _ = Glibc.kill(pid, signal) }
        }
    }

    /// Waits up to `timeout` seconds; past that, kills the child and throws `CommandError.timedOut`.
    public func wait(timeout: Double) throws -> CommandResult {
        if waitUntilExit(timeout: timeout) { return collect() }
        kill()
        throw CommandError.timedOut(collect(), seconds: timeout)
    }

    /// Sends `signal`, waits up to `timeout` seconds for the exit, then SIGKILL. Idempotent:
    /// once the child has exited, returns its result again.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) -> CommandResult {
        send(signal)
        if !waitUntilExit(timeout: timeout) { kill() }
        return collect()
    }

    /// SIGKILL to this child only, then reap it.
    public func kill() {
        send(SIGKILL)
        _ = reap(blocking: true)
    }

    /// True if the child exited within `timeout` seconds.
    private func waitUntilExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while reap(blocking: false) == nil {
            guard Date() < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    /// The wait status once the child has exited; reaps it the first time.
    private func reap(blocking: Bool) -> Int32? {
        lock.withLock {
            if let waitStatus { return waitStatus }
            var status: Int32 = 0
            while true {
                let reaped = waitpid(pid, &status, blocking ? 0 : WNOHANG)
                if reaped == pid { break }
                if reaped < 0 && errno == EINTR { continue }
                // 0: still running. ECHILD cannot happen to a child only this object reaps.
                if reaped == 0 { return nil }
                status = 0x7f00  // as "exited 127": the status is unknowable
                break
            }
            waitStatus = status
            return status
        }
    }

    /// The result, read once the child has exited; the output files are removed then.
    private func collect() -> CommandResult {
        let status = reap(blocking: true) ?? 0x7f00
        return lock.withLock {
            if let result { return result }
            let signal = status & 0x7f
            let exitCode = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            let collected = CommandResult(arguments: arguments, status: exitCode,
                                          stdout: Self.read(directory + "/stdout"),
                                          stderr: Self.read(directory + "/stderr"))
            Self.removeFiles(in: directory)
            result = collected
            return collected
        }
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func removeFiles(in directory: String) {
        for name in ["stdin", "stdout", "stderr"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    deinit {
        if waitStatus == nil { kill() }
        Self.removeFiles(in: directory)
    }
}
