import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The raw calls the perf rings make, in one place: perf_event_open, mmap,
/// ioctl, the perf event array update, epoll and eventfd. Each returns a value
/// or throws a `RingSyscallError` naming the call, its target and the advice
/// for the errno where the cause is known.
enum RingSyscalls {
    /// A `PERF_COUNT_SW_BPF_OUTPUT` event on one CPU, for any process, that
    /// `bpf_perf_event_output` writes raw samples into.
    static func openBPFOutputEvent(cpu: Int, wakeup: UInt32, useWatermark: Bool) throws(RingSyscallError) -> Int32 {
        let result = cbpf_perf_event_open(
            PERF_TYPE_SOFTWARE.rawValue, UInt64(PERF_COUNT_SW_BPF_OUTPUT.rawValue),
            UInt64(PERF_SAMPLE_RAW.rawValue), 1, wakeup, useWatermark ? 1 : 0,
            -1, Int32(cpu), -1, UInt(PERF_FLAG_FD_CLOEXEC))
        return try check(result, "perf_event_open(PERF_COUNT_SW_BPF_OUTPUT, cpu \(cpu))")
    }

    static func enable(perfEvent fd: Int32, cpu: Int) throws(RingSyscallError) {
        _ = try check(cbpf_ioctl_int(fd, CBPF_PERF_EVENT_IOC_ENABLE, 0), "ioctl(PERF_EVENT_IOC_ENABLE, cpu \(cpu))")
    }

    static func mapShared(fd: Int32, length: Int, cpu: Int) throws(RingSyscallError) -> UnsafeMutableRawPointer {
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw RingSyscallError(call: "mmap(perf ring of \(length) bytes, cpu \(cpu))", errno: errno)
        }
        return address
    }

    static func unmap(_ address: UnsafeMutableRawPointer, length: Int) {
        // Fails only for an address we did not map; nothing to recover.
        _ = munmap(address, length)
    }

    /// Stores the perf event fd at index `cpu` of a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    static func storeInPerfEventArray(mapFD: Int32, cpu: Int, perfEventFD: Int32) throws(RingSyscallError) {
        var key = UInt32(cpu)
        var value = UInt32(bitPattern: perfEventFD)
        let result = cbpf_map_update_elem(mapFD, &key, &value, UInt64(BPF_ANY))
        _ = try check(result, "bpf(BPF_MAP_UPDATE_ELEM, perf event array, key cpu \(cpu))")
    }

    static func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports an error: never retry.
        _ = Glibc.close(fd)
    }

    static func epollCreate() throws(RingSyscallError) -> Int32 {
        try check(cbpf_epoll_create(), "epoll_create1")
    }

    static func epollAdd(epollFD: Int32, fd: Int32, token: UInt64) throws(RingSyscallError) {
        _ = try check(cbpf_epoll_add(epollFD, fd, EPOLLIN.rawValue, token), "epoll_ctl(ADD, fd \(fd))")
    }

    /// The number of events filled in, 0 on timeout; EINTR is retried by the caller's loop as a timeout.
    static func epollWait(epollFD: Int32, events: UnsafeMutableBufferPointer<epoll_event>,
                          timeoutMilliseconds: Int32) throws(RingSyscallError) -> Int {
        let result = cbpf_epoll_wait(epollFD, events.baseAddress, Int32(events.count), timeoutMilliseconds)
        if result == -EINTR { return 0 }
        return Int(try check(result, "epoll_wait"))
    }

    static func eventFD() throws(RingSyscallError) -> Int32 {
        try check(cbpf_eventfd(), "eventfd")
    }

    /// Adds one to the eventfd's counter, making it readable; it stays readable until read.
    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        // Fails only if the counter would overflow (it is never read, so it cannot
        // reach 2^64 - 1 by one-increments); the fd is then readable anyway.
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, $0.count) }
    }

    private static func check(_ result: Int32, _ call: @autoclosure () -> String) throws(RingSyscallError) -> Int32 {
        if result < 0 { throw RingSyscallError(call: call(), errno: -result) }
        return result
    }
}

/// A failed call of the perf ring setup or poll loop, with advice where the cause is known.
public struct RingSyscallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var advice: String? {
        switch errno {
        case EPERM, EACCES:
            if call.hasPrefix("mmap") {
                return "the ring exceeds the locked-memory limit: run as root, grant CAP_PERFMON or CAP_IPC_LOCK, "
                    + "raise `ulimit -l`, or use a smaller ring"
            }
            return "needs root or CAP_BPF + CAP_PERFMON (check /proc/sys/kernel/perf_event_paranoid)"
        case ENOENT where call.hasPrefix("perf_event_open"):
            return "the kernel lacks software BPF output events (PERF_COUNT_SW_BPF_OUTPUT, Linux 4.4+)"
        case ENODEV where call.hasPrefix("perf_event_open"):
            return "the CPU is offline"
        case E2BIG where call.contains("BPF_MAP_UPDATE_ELEM"), EINVAL where call.contains("BPF_MAP_UPDATE_ELEM"):
            return "the perf event array has fewer entries than CPUs, or is not a perf event array"
        case ENOMEM:
            return "out of memory: use a smaller ring"
        default:
            return nil
        }
    }

    public var description: String {
        let text = "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
        return advice.map { "\(text): \($0)" } ?? text
    }
}
