#if canImport(Glibc)
import Glibc
#endif
import CBPFSyscall

/// Drops every privilege of the calling thread, for good: the bounding set
/// (needs CAP_SETPCAP), the ambient set, optionally the user (groups, gid, uid:
/// needs CAP_SETGID/CAP_SETUID, so before the capability sets are emptied), the
/// effective, permitted and inheritable sets, then no_new_privs.
///
/// Linux keeps credentials per thread, so run it while the process has one
/// thread: every thread started afterwards inherits the result, and nothing
/// has to be broadcast (`ProcessThreads.count` checks the premise).
public struct PrivilegeDrop: Sendable {
    /// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`).
    public var lastCapability: Int32
    public var dropBoundingSet: Bool
    /// nil keeps the user and groups.
    public var user: UserAccount?

    public init(lastCapability: Int32 = PrivilegeDrop.kernelLastCapability(), dropBoundingSet: Bool,
                user: UserAccount?) {
        self.lastCapability = lastCapability
        self.dropBoundingSet = dropBoundingSet
        self.user = user
    }

    public func apply(syscalls: Syscalls = .kernel) throws(SyscallError) {
        if dropBoundingSet {
            for capability in 0...max(0, lastCapability) { try syscalls.dropFromBoundingSet(capability) }
        }
        try syscalls.clearAmbientCapabilities()
        if let user { try syscalls.switchUser(uid: user.uid, gid: user.gid) }
        try syscalls.setCapabilities(.none)
        try syscalls.setNoNewPrivileges()
    }

    /// The highest capability number this kernel knows; the header's value when procfs does not say.
    public static func kernelLastCapability() -> Int32 {
        if let text = try? SystemFile.readString("/proc/sys/kernel/cap_last_cap"),
           let value = Int32(text.trimmingWhitespace()), (0...63).contains(value) {
            return value
        }
        return CBPF_CAP_LAST_CAP
    }
}

/// The threads of this process, as `/proc/self/task` lists them.
public enum ProcessThreads {
    public static func ids() throws(FileReadError) -> [Int32] {
        try SystemFile.directoryEntries("/proc/self/task").compactMap { Int32($0) }.sorted()
    }

    /// `ids()` once only the calling thread is left, or as they are after `patience`. A thread
    /// that was joined has returned, but the kernel lists it here until it has finished
    /// exiting, a moment later: a drop right after a join can see two threads.
    public static func idsOnceAlone(patience: Duration = .milliseconds(200)) throws(FileReadError) -> [Int32] {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            let threads = try ids()
            if threads.count <= 1 || clock.now >= deadline { return threads }
            usleep(50)
        }
    }

    /// One thread's `/proc/self/task/<id>/status` (credentials, capability sets, no_new_privs).
    public static func status(_ threadID: Int32) throws(FileReadError) -> String {
        try SystemFile.readString("/proc/self/task/\(threadID)/status")
    }
}
