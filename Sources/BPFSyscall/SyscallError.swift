#if canImport(Glibc)
import Glibc
#endif

/// A raw call that failed: which call, the errno, and what to do about it when the cause is known.
public struct SyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// e.g. `BPF_MAP_CREATE`, `perf_event_open`, `ioctl(PERF_EVENT_IOC_SET_BPF)`.
    public var call: String
    public var errno: Int32
    public var advice: String?

    public init(call: String, errno: Int32, advice: String? = nil) {
        self.call = call
        self.errno = errno
        self.advice = advice ?? SyscallError.advice(call: call, errno: errno)
    }

    public var description: String {
        var text = "\(call) failed: \(Errno.describe(errno))"
        if let advice { text += " (\(advice))" }
        return text
    }

    /// The advice for causes we know: the one errno-to-advice table, so `run`, `tail`
    /// and `check` say the same thing. Matched on the call's name before any "(".
    static func advice(call: String, errno: Int32) -> String? {
        let name = call.split(separator: "(", maxSplits: 1).first.map(String.init) ?? call
        switch (name, errno) {
        case ("mount", EPERM):
            return "mounting tracefs needs root (CAP_SYS_ADMIN); or mount it yourself: mount -t tracefs nodev /sys/kernel/tracing"
        case ("mmap", EPERM), ("mmap", EACCES):
            // Checked in perf_mmap: only CAP_IPC_LOCK lifts it (CAP_PERFMON and CAP_BPF do not).
            return "the rings need more locked memory than this user may lock: beyond perf_event_mlock_kb "
                + "(/proc/sys/kernel/perf_event_mlock_kb per online CPU, for all of the user's perf buffers) "
                + "RLIMIT_MEMLOCK applies; give the exporter CAP_IPC_LOCK, raise its limit (ulimit -l, or "
                + "LimitMEMLOCK= in a systemd unit), or use smaller rings"
        case ("mmap", ENOMEM):
            return "out of memory: use smaller rings"
        case ("mmap", EINVAL):
            return "the ring size must be one page plus a power of two of pages"
        case ("capset", EPERM), ("prctl", EPERM):
            return "a capability may only be dropped, never gained"
        case ("setgroups", EPERM), ("setresgid", EPERM):
            return "switching user needs CAP_SETGID"
        case ("setresuid", EPERM):
            return "switching user needs CAP_SETUID"
        case ("BPF_ENABLE_STATS", EPERM):
            return "needs CAP_SYS_ADMIN"
        case ("bind", EACCES):
            return "ports below 1024 need root or CAP_NET_BIND_SERVICE"
        case (_, EPERM):
            return "needs root, or CAP_BPF + CAP_PERFMON"
        case ("perf_event_open", EACCES):
            return "needs CAP_PERFMON, or a lower /proc/sys/kernel/perf_event_paranoid"
        case ("perf_event_open", ENOENT), ("perf_event_open", ENODEV):
            return "tracefs not mounted or kernel lacks the tcp tracepoints"
        case (_, ENOSYS):
            return "this kernel has no bpf(2) (CONFIG_BPF_SYSCALL unset)"
        case ("BPF_MAP_CREATE", EINVAL):
            return "the kernel rejected the map's attributes (type, key/value size, max_entries, flags or BTF type ids)"
        case ("BPF_MAP_CREATE", ENOMEM), ("BPF_PROG_LOAD", ENOMEM):
            return "out of locked memory: raise RLIMIT_MEMLOCK (ulimit -l), needed on kernels before 5.11"
        case ("BPF_BTF_LOAD", EINVAL):
            return "the kernel does not accept this object's BTF; loading without it"
        case ("BPF_LINK_CREATE", EINVAL), ("BPF_LINK_CREATE", EOPNOTSUPP):
            return "kernel without perf links (before 5.15); the ioctl attach works there"
        case ("BPF_PROG_LOAD", ENOSPC), ("BPF_BTF_LOAD", ENOSPC):
            return "the verifier log did not fit its buffer"
        case ("BPF_PROG_LOAD", E2BIG):
            return "the program has more instructions than this kernel accepts"
        default:
            return nil
        }
    }
}

/// errno names and messages, for error descriptions.
public enum Errno {
    /// e.g. `EPERM: Operation not permitted`.
    public static func describe(_ errno: Int32) -> String {
        let message = String(cString: strerror(errno))
        if let name = name(errno) { return "\(name): \(message)" }
        return "errno \(errno): \(message)"
    }

    public static func name(_ errno: Int32) -> String? {
        switch errno {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case E2BIG: return "E2BIG"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case EINVAL: return "EINVAL"
        case EMFILE: return "EMFILE"
        case ENOSPC: return "ENOSPC"
        case ERANGE: return "ERANGE"
        case ENOSYS: return "ENOSYS"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case EADDRINUSE: return "EADDRINUSE"
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        case ENOTSUPP: return "ENOTSUPP"
        default: return nil
        }
    }
}

/// Linux-internal ENOTSUPP (524): bpf(2) leaks it for features a kernel lacks.
let ENOTSUPP: Int32 = 524
