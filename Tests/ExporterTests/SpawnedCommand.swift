import BPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A command started by a test, its output captured in files (no pipes to
/// drain, so no deadlock), waited for with a timeout. Only this PID is ever
/// signalled.
struct SpawnedCommand {
    struct Outcome: Sendable {
        /// The exit code, or 128 + the signal number if a signal ended it.
        var status: Int32
        var stdout: String
        var stderr: String
        var output: String { stdout + stderr }
    }

    struct SpawnError: Error, CustomStringConvertible {
        var arguments: [String]
        var errno: Int32
        var description: String {
            "cannot start \(arguments.joined(separator: " ")): \(String(cString: strerror(errno)))"
        }
    }

    let pid: pid_t
    let arguments: [String]
    private let outputDirectory: String

    /// Starts `arguments[0]` (searched in PATH) with default signal handling,
    /// so that a shell script can trap SIGINT and SIGTERM.
    static func start(_ arguments: [String]) throws -> SpawnedCommand {
        var template = Array("/tmp/rtx-ch-test.XXXXXX".utf8CString)
        guard let directoryPointer = mkdtemp(&template) else {
            throw SpawnError(arguments: arguments, errno: errno)
        }
        let outputDirectory = String(cString: directoryPointer)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputDirectory + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, outputDirectory + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        let environment = ["PATH=\(path)", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"]
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            removeOutput(outputDirectory)
            throw SpawnError(arguments: arguments, errno: result)
        }
        return SpawnedCommand(pid: pid, arguments: arguments, outputDirectory: outputDirectory)
    }

    /// Runs to completion (or is killed after `timeoutSeconds`).
    static func run(_ arguments: [String], timeoutSeconds: Double = 120) throws -> Outcome {
        try start(arguments).wait(timeoutSeconds: timeoutSeconds)
    }

    func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the exit; after the timeout, SIGKILL and report status 137.
    func wait(timeoutSeconds: Double) -> Outcome {
        var status: Int32 = 0
        var waited = 0.0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { status = 0x7f00; break }
            if waited >= timeoutSeconds {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(20_000)
            waited += 0.02
        }
        let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let stdout = (try? SystemFile.readString(outputDirectory + "/stdout")) ?? ""
        let stderr = (try? SystemFile.readString(outputDirectory + "/stderr")) ?? ""
        Self.removeOutput(outputDirectory)
        return Outcome(status: exitCode, stdout: stdout, stderr: stderr)
    }

    private static func removeOutput(_ directory: String) {
        unlink(directory + "/stdout")
        unlink(directory + "/stderr")
        rmdir(directory)
    }
}

/// Paths the deploy tests need: the repository (from this file's path) and
/// the built binary (next to the test bundle).
enum DeployTestPaths {
    static var repositoryRoot: String {
        // .../Tests/ExporterTests/SpawnedCommand.swift -> ...
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        return components.joined(separator: "/")
    }

    static var exporterBinary: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The test bundle is .build/<triple>/<config>/retrans-exporterPackageTests.xctest.
        var directory = executable.split(separator: "/", omittingEmptySubsequences: false)
        directory.removeLast()
        let candidate = directory.joined(separator: "/") + "/retrans-exporter"
        return SystemFile.exists(candidate) ? candidate : nil
    }

    static func which(_ tool: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    static var isRoot: Bool { geteuid() == 0 }
}
