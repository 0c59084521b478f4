import BPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Least privilege for `run`: once the program is attached, the rings are mapped
/// and the HTTP socket is bound, nothing the exporter still does needs a
/// privilege. Reading the rings, looking up the `stats` map and the program's
/// info, and keeping BPF statistics on all go through descriptors it already
/// holds; `/proc/net/snmp` is world-readable; tracefs is no longer read. So every
/// capability goes, on every thread, and with `--run-as-user` the user too.
///
/// Order per thread: bounding set (needs CAP_SETPCAP), ambient set, then the user
/// switch (groups, gid, uid: needs CAP_SETGID/CAP_SETUID, so before the capsets are
/// emptied), then empty effective/permitted/inheritable sets, then no_new_privs
/// (an exec can never gain privileges back, not even through a setuid binary).
enum Privileges {
    /// What was dropped, for the log line.
    struct Outcome: Sendable, Equatable, CustomStringConvertible {
        var threads: Int
        var boundingSetDropped: Bool
        var user: UserAccount?

        var description: String {
            var text = "dropped every capability (effective, permitted, inheritable, ambient"
            text += boundingSetDropped ? ", bounding set" : "; bounding set kept: no CAP_SETPCAP"
            text += ") and set no_new_privs on all \(threads) threads"
            if let user { text += "; now running as user \(user)" }
            return text
        }
    }

    /// Drops every privilege of this process, switching to `user` if given, and
    /// checks the result on every thread in `/proc/self/task`. Call it from the
    /// main thread after everything privileged is done.
    static func dropAll(switchingTo user: UserAccount?) throws -> Outcome {
        try withContext("drop privileges") {
            let own = try PrivilegeSyscalls.capabilities()
            // Already that user (started by systemd's User=, say): nothing to switch.
            let switchTo = user.flatMap { geteuid() == $0.uid && getegid() == $0.gid ? nil : $0 }
            if let user = switchTo {
                let missing = [LinuxCapability.setuid, .setgid].filter { !own.hasEffective($0) }
                guard missing.isEmpty else {
                    throw PrivilegeError.cannotSwitchUser(user: user, missing: missing.map(\.name))
                }
            }
            let drop = ThreadPrivilegeDrop(
                lastCapability: PrivilegeSyscalls.lastCapability(),
                dropBoundingSet: own.hasEffective(.setpcap),
                user: switchTo.map { (uid: $0.uid, gid: $0.gid) })

            // Threads started by a thread that already dropped inherit the drop; one
            // started meanwhile by a thread that had not yet dropped may not have:
            // look again until every thread is checked (normally the first round).
            let main = PrivilegeSyscalls.currentThreadID()
            var done: Set<Int32> = []
            for _ in 0..<Self.maximumRounds {
                let others = try PrivilegeSyscalls.threadIDs().filter { $0 != main && !done.contains($0) }
                if others.isEmpty && done.contains(main) { break }
                done.formUnion(try PrivilegeSyscalls.dropOnOtherThreads(others, drop))
                if !done.contains(main) {
                    try PrivilegeSyscalls.dropOnCurrentThread(drop)
                    done.insert(main)
                }
            }
            let threads = try PrivilegeSyscalls.threadIDs()
            for thread in threads {
                let status = try PrivilegeSyscalls.threadStatus(thread)
                if let problem = ThreadCredentials(status: status).problem(after: drop) {
                    throw PrivilegeError.notDropped(thread: thread, problem: problem)
                }
            }
            return Outcome(threads: threads.count, boundingSetDropped: drop.dropBoundingSet, user: user)
        }
    }

    static let maximumRounds = 4
}

enum PrivilegeError: Error, CustomStringConvertible {
    case cannotSwitchUser(user: UserAccount, missing: [String])
    case notDropped(thread: Int32, problem: String)

    var description: String {
        switch self {
        case .cannotSwitchUser(let user, let missing):
            return "--run-as-user \(user.name) needs \(missing.joined(separator: " and ")) to switch user"
                + " (run as root, or add them to the service's capabilities)"
        case .notDropped(let thread, let problem):
            return "thread \(thread) kept a privilege after the drop: \(problem)"
        }
    }
}
