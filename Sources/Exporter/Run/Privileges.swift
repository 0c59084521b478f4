import BPFSyscall

/// Least privilege for `run`: once the socket is bound, the program attached and the rings
/// mapped, nothing the exporter still does needs a privilege. Reading the rings, the `stats`
/// map and the program's info, and keeping BPF statistics on, all go through descriptors it
/// already holds; `/proc/net/snmp` is world-readable; tracefs is not read again. So every
/// capability goes, and with `--run-as-user` the user too, once, while the process has a
/// single thread: the ring thread and the HTTP threads start afterwards and inherit it.
enum Privileges {
    /// What was dropped, for the log line.
    struct Outcome: Sendable, Equatable, CustomStringConvertible {
        var boundingSetDropped: Bool
        var user: UserAccount?

        var description: String {
            var text = "dropped every capability (effective, permitted, inheritable, ambient"
            text += boundingSetDropped ? ", bounding set" : "; bounding set kept: no CAP_SETPCAP"
            text += ") and set no_new_privs"
            if let user { text += "; now running as user \(user)" }
            return text
        }
    }

    /// Drops every privilege, switching to `user` if given. Call it from the only thread.
    static func dropAll(switchingTo user: UserAccount?, syscalls: Syscalls = .kernel) throws -> Outcome {
        try withContext("drop privileges") {
            let threads = try ProcessThreads.idsOnceAlone()
            guard threads.count == 1 else { throw PrivilegeError.threadsRunning(threads.count) }
            let own = try syscalls.capabilities()
            // Already that user (started by systemd's User=, say): nothing to switch.
            let switchTo = user.flatMap { Self.isCurrentUser($0) ? nil : $0 }
            if let user = switchTo {
                let missing = [LinuxCapability.setuid, .setgid].filter { !own.hasEffective($0) }
                guard missing.isEmpty else {
                    throw PrivilegeError.cannotSwitchUser(user: user, missing: missing.map(\.name))
                }
            }
            let drop = PrivilegeDrop(dropBoundingSet: own.hasEffective(.setpcap), user: switchTo)
            try drop.apply(syscalls: syscalls)
            return Outcome(boundingSetDropped: drop.dropBoundingSet, user: user)
        }
    }

    /// Checks in `/proc/self/task` that every thread, the ones started after the drop
    /// included, holds no capability and has no_new_privs (and runs as `outcome.user`).
    static func verifyAllThreads(after outcome: Outcome) throws {
        try withContext("check privileges on every thread") {
            for thread in try ProcessThreads.ids() {
                // A thread that exited meanwhile has nothing left to check.
                guard let status = try? ProcessThreads.status(thread) else { continue }
                if let problem = ThreadCredentials(status: status).problem(after: outcome) {
                    throw PrivilegeError.notDropped(thread: thread, problem: problem)
                }
            }
        }
    }

    private static func isCurrentUser(_ user: UserAccount) -> Bool {
        guard let status = try? SystemFile.readString("/proc/self/status") else { return false }
        let credentials = ThreadCredentials(status: status)
        return credentials.uids.allSatisfy { $0 == user.uid } && credentials.gids.allSatisfy { $0 == user.gid }
    }
}

enum PrivilegeError: Error, CustomStringConvertible {
    case cannotSwitchUser(user: UserAccount, missing: [String])
    case threadsRunning(Int)
    case notDropped(thread: Int32, problem: String)

    var description: String {
        switch self {
        case .cannotSwitchUser(let user, let missing):
            return "--run-as-user \(user.name) needs \(missing.joined(separator: " and ")) to switch user"
                + " (run as root, or add them to the service's capabilities)"
        case .threadsRunning(let count):
            return "\(count) threads are running: privileges are dropped while the process has one"
                + " thread, so that every later thread inherits the drop"
        case .notDropped(let thread, let problem):
            return "thread \(thread) kept a privilege after the drop: \(problem)"
        }
    }
}
