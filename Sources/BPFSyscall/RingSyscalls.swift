import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The raw calls of the perf rings that the loader's `Syscalls` funnel does not
/// carry (mmap, epoll, eventfd), shaped the same way: a value, or a
/// `SyscallError` naming the call with advice where the cause is known.
/// perf_event_open, ioctl and map updates go through `Syscalls`.
enum RingSyscalls {
    static func mapShared(fd: Int32, length: Int) throws(SyscallError) -> UnsafeMutableRawPointer {
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            let error = errno
            throw SyscallError(call: "mmap(perf ring, \(length) bytes)", errno: error, advice: mmapAdvice(error))
        }
        return address
    }

    static func unmap(_ address: UnsafeMutableRawPointer, length: Int) {
        // Fails only for an address we did not map; nothing to recover.
        _ = munmap(address, length)
    }

    static func epollCreate() throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Syscalls.check(cbpf_epoll_create(), "epoll_create1"))
    }

    static func epollAdd(epollFD: Int32, fd: Int32, token: UInt64) throws(SyscallError) {
        _ = try Syscalls.check(cbpf_epoll_add(epollFD, fd, EPOLLIN.rawValue, token), "epoll_ctl(EPOLL_CTL_ADD)")
    }

    /// The number of events filled in; 0 on timeout or when a signal interrupted the wait.
    static func epollWait(epollFD: Int32, events: UnsafeMutableBufferPointer<epoll_event>,
                          timeoutMilliseconds: Int32) throws(SyscallError) -> Int {
        let result = cbpf_epoll_wait(epollFD, events.baseAddress, Int32(clamping: events.count), timeoutMilliseconds)
        if result == -EINTR { return 0 }
        return Int(try Syscalls.check(result, "epoll_wait"))
    }

    static func eventFD() throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Syscalls.check(cbpf_eventfd(), "eventfd"))
    }

    /// Adds one to the eventfd's counter, making it readable; it stays readable until read.
    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        // Can fail only if the counter would pass 2^64 - 2; it is then readable anyway.
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, $0.count) }
    }

    private static func mmapAdvice(_ errno: Int32) -> String? {
        switch errno {
        case EPERM, EACCES:
            // Checked in perf_mmap: only CAP_IPC_LOCK lifts it (CAP_PERFMON and CAP_BPF do not).
            return "the rings need more locked memory than this user may lock: beyond perf_event_mlock_kb "
                + "(/proc/sys/kernel/perf_event_mlock_kb per online CPU, for all of the user's perf buffers) "
                + "RLIMIT_MEMLOCK applies; give the exporter CAP_IPC_LOCK, raise its limit (ulimit -l, or "
                + "LimitMEMLOCK= in a systemd unit), or use smaller rings"
        case ENOMEM:
            return "out of memory: use smaller rings"
        case EINVAL:
            return "the ring size must be one page plus a power of two of pages"
        default:
            return nil
        }
    }
}
