import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Capability sets as the kernel reports them: bit n is capability n.
public struct CapabilityState: Sendable, Equatable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64

    public init(effective: UInt64, permitted: UInt64, inheritable: UInt64) {
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
    }

    public var isEmpty: Bool { effective == 0 && permitted == 0 && inheritable == 0 }

    public func hasEffective(_ capability: LinuxCapability) -> Bool {
        effective & (1 << UInt64(capability.rawValue)) != 0
    }
}

/// The capabilities the privilege code asks about (numbers from linux/capability.h).
public enum LinuxCapability: Int32, Sendable, CaseIterable {
    case setgid = 6
    case setuid = 7
    case setpcap = 8
    case ipcLock = 14
    case sysAdmin = 21
    case perfmon = 38
    case bpf = 39

    public var name: String {
        switch self {
        case .setgid: return "CAP_SETGID"
        case .setuid: return "CAP_SETUID"
        case .setpcap: return "CAP_SETPCAP"
        case .ipcLock: return "CAP_IPC_LOCK"
        case .sysAdmin: return "CAP_SYS_ADMIN"
        case .perfmon: return "CAP_PERFMON"
        case .bpf: return "CAP_BPF"
        }
    }
}

/// What `PrivilegeSyscalls.drop` does on each thread, in this order: drop the
/// bounding set, clear the ambient set, switch user (no supplementary groups,
/// then gid, then uid: after the uid, the gid could no longer change), empty the
/// effective, permitted and inheritable sets, set no_new_privs.
public struct ThreadPrivilegeDrop: Sendable, Equatable {
    /// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`).
    public var lastCapability: Int32
    /// Needs CAP_SETPCAP.
    public var dropBoundingSet: Bool
    /// nil keeps the user and groups. Needs CAP_SETUID and CAP_SETGID.
    public var user: (uid: UInt32, gid: UInt32)?

    public init(lastCapability: Int32, dropBoundingSet: Bool, user: (uid: UInt32, gid: UInt32)?) {
        self.lastCapability = lastCapability
        self.dropBoundingSet = dropBoundingSet
        self.user = user
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.lastCapability == rhs.lastCapability && lhs.dropBoundingSet == rhs.dropBoundingSet
            && lhs.user?.uid == rhs.user?.uid && lhs.user?.gid == rhs.user?.gid
    }

    var shimValue: cbpf_privilege_drop {
        cbpf_privilege_drop(last_capability: lastCapability, drop_bounding_set: dropBoundingSet ? 1 : 0,
                            clear_ambient: 1, switch_user: user == nil ? 0 : 1,
                            uid: user?.uid ?? 0, gid: user?.gid ?? 0)
    }
}

/// A drop that failed on some thread: which step, which errno.
public struct PrivilegeDropError: Error, Sendable, Equatable, CustomStringConvertible {
    public var step: String
    /// nil when no call failed but the threads did not answer.
    public var errno: Int32?
    /// The thread, when it was not the calling one.
    public var threadID: Int32?

    public var description: String {
        guard let errno else { return step }
        var text = "\(step) failed: \(Errno.describe(errno))"
        if let threadID { text += " on thread \(threadID)" }
        if errno == EPERM {
            switch step {
            case "setgroups", "setresgid": text += " (switching user needs CAP_SETGID)"
            case "setresuid": text += " (switching user needs CAP_SETUID)"
            case "PR_CAPBSET_DROP": text += " (dropping the bounding set needs CAP_SETPCAP)"
            default: break
            }
        }
        return text
    }

    init(step: Int32, errno: Int32, threadID: Int32?) {
        self.step = Self.stepName(step)
        self.errno = errno
        self.threadID = threadID
    }

    public init(step: String, errno: Int32?, threadID: Int32? = nil) {
        self.step = step
        self.errno = errno
        self.threadID = threadID
    }

    static func stepName(_ step: Int32) -> String {
        switch UInt32(bitPattern: step) {
        case CBPF_STEP_BOUNDING_SET.rawValue: return "PR_CAPBSET_DROP"
        case CBPF_STEP_AMBIENT.rawValue: return "PR_CAP_AMBIENT_CLEAR_ALL"
        case CBPF_STEP_SETGROUPS.rawValue: return "setgroups"
        case CBPF_STEP_SETRESGID.rawValue: return "setresgid"
        case CBPF_STEP_SETRESUID.rawValue: return "setresuid"
        case CBPF_STEP_CAPSET.rawValue: return "capset"
        case CBPF_STEP_NO_NEW_PRIVS.rawValue: return "PR_SET_NO_NEW_PRIVS"
        default: return "privilege step \(step)"
        }
    }
}

/// The raw credential calls: capget/capset, prctl, the per-thread user switch,
/// thread enumeration. Credentials belong to each thread in Linux, so a drop
/// runs on every thread (see `Sources/CBPFSyscall/include/cbpf_privileges.h`);
/// when to drop and what to check afterwards is the caller's policy.
public enum PrivilegeSyscalls {
    /// The capability sets of thread `threadID` of this process (0: the calling thread).
    public static func capabilities(threadID: Int32 = 0) throws(SyscallError) -> CapabilityState {
        var effective: (UInt32, UInt32) = (0, 0)
        var permitted: (UInt32, UInt32) = (0, 0)
        var inheritable: (UInt32, UInt32) = (0, 0)
        let result = withUnsafeMutableBytes(of: &effective) { effective in
            withUnsafeMutableBytes(of: &permitted) { permitted in
                withUnsafeMutableBytes(of: &inheritable) { inheritable in
                    cbpf_capget(threadID, effective.baseAddress?.assumingMemoryBound(to: UInt32.self),
                                permitted.baseAddress?.assumingMemoryBound(to: UInt32.self),
                                inheritable.baseAddress?.assumingMemoryBound(to: UInt32.self))
                }
            }
        }
        _ = try Syscalls.check(result, "capget")
        func combine(_ words: (UInt32, UInt32)) -> UInt64 { UInt64(words.0) | UInt64(words.1) << 32 }
        return CapabilityState(effective: combine(effective), permitted: combine(permitted),
                              inheritable: combine(inheritable))
    }

    /// The highest capability number this kernel knows; the header's value when procfs does not say.
    public static func lastCapability() -> Int32 {
        if let text = try? SystemFile.readString("/proc/sys/kernel/cap_last_cap"),
           let value = Int32(text.trimmingWhitespace()), (0...63).contains(value) {
            return value
        }
        return CBPF_CAP_LAST_CAP
    }

    public static func currentThreadID() -> Int32 { cbpf_gettid() }

    /// Every thread of this process now (`/proc/self/task`).
    public static func threadIDs() throws(FileReadError) -> [Int32] {
        guard let directory = opendir("/proc/self/task") else {
            throw FileReadError(path: "/proc/self/task", errno: errno)
        }
        defer { closedir(directory) }
        var ids: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let id = Int32(name) { ids.append(id) }
        }
        return ids.sorted()
    }

    /// The `/proc/self/task/<id>/status` text of one thread (credentials, capability sets, no_new_privs).
    public static func threadStatus(_ threadID: Int32) throws(FileReadError) -> String {
        try SystemFile.readString("/proc/self/task/\(threadID)/status")
    }

    /// Runs `drop` on the calling thread.
    public static func dropOnCurrentThread(_ drop: ThreadPrivilegeDrop) throws(PrivilegeDropError) {
        var shim = drop.shimValue
        var step: Int32 = 0
        let result = cbpf_drop_thread_privileges(&shim, &step)
        guard result == 0 else { throw PrivilegeDropError(step: step, errno: -result, threadID: nil) }
    }

    /// Runs `drop` on each of `threadIDs` (other threads of this process) through a
    /// signal handler, and waits until every one that still exists has run it.
    /// Returns the threads that ran it (a thread that exited meanwhile is left out).
    public static func dropOnOtherThreads(_ threadIDs: [Int32], _ drop: ThreadPrivilegeDrop,
                                          timeout: Duration = .seconds(2)) throws(PrivilegeDropError) -> [Int32] {
        var shim = drop.shimValue
        let installed = cbpf_privilege_signal_install(&shim)
        guard installed == 0 else { throw PrivilegeDropError(step: "sigaction", errno: -installed) }
        defer { _ = cbpf_privilege_signal_uninstall() }

        var signalled: [Int32] = []
        for id in threadIDs {
            let sent = cbpf_privilege_signal_send(id)
            if sent == -ESRCH { continue }
            guard sent == 0 else { throw PrivilegeDropError(step: "tgkill", errno: -sent, threadID: id) }
            signalled.append(id)
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            var finished: UInt32 = 0
            var firstError: Int32 = 0
            var firstStep: Int32 = 0
            cbpf_privilege_signal_results(&finished, &firstError, &firstStep)
            if firstError != 0 {
                var error = PrivilegeDropError(step: firstStep, errno: firstError, threadID: nil)
                error.step += " (on one of threads \(signalled))"
                throw error
            }
            if finished >= signalled.count { return signalled }
            guard clock.now < deadline else {
                // A thread that blocks the signal never runs the handler.
                throw PrivilegeDropError(
                    step: "only \(finished) of threads \(signalled) ran the drop within \(timeout): a thread"
                        + " blocking signal \(cbpf_privilege_signal_number()) never runs it",
                    errno: nil)
            }
            usleep(1_000)
        }
    }
}
