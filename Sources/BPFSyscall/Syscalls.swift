import CBPFSyscall

/// The one funnel for raw kernel calls. Every call into the C shim, and every
/// libc call that asks the kernel for something (mmap, epoll, eventfd, mount,
/// capabilities, prctl, the user switch, the listening socket), goes through a
/// closure of this struct, so errors are shaped once: the `-errno` a call
/// returns becomes a `SyscallError` naming the call, with advice from one table
/// (`SyscallError.advice`).
///
/// The calls are closures so that a test can replace one (copy `.kernel`,
/// overwrite a closure) and drive an error path the real kernel will not
/// produce on demand. Each closure returns what the kernel does: the result
/// (fd, count, 0) or `-errno`; buffers are Swift arrays. The live calls are in
/// `Syscalls+Kernel.swift`, the throwing wrappers in `Syscalls+Wrappers.swift`.
public struct Syscalls: Sendable {
    // MARK: bpf(2)
    public var mapCreate: @Sendable (MapCreateRequest) -> Int32
    public var mapUpdate: @Sendable (_ fd: Int32, _ key: [UInt8], _ value: [UInt8], _ flags: UInt64) -> Int32
    /// Fills `value` (already sized to the value size) on success.
    public var mapLookup: @Sendable (_ fd: Int32, _ key: [UInt8], _ value: inout [UInt8]) -> Int32
    /// `key` nil asks for the first key. Fills `nextKey` (already sized) on success.
    public var mapGetNextKey: @Sendable (_ fd: Int32, _ key: [UInt8]?, _ nextKey: inout [UInt8]) -> Int32
    public var mapFreeze: @Sendable (_ fd: Int32) -> Int32
    /// `log` empty means no log; otherwise its count is the buffer size.
    public var btfLoad: @Sendable (_ btf: [UInt8], _ logLevel: UInt32, _ log: inout [UInt8]) -> Int32
    /// `log` empty means no log; otherwise its count is the buffer size.
    public var programLoad: @Sendable (ProgramLoadRequest, _ logLevel: UInt32, _ log: inout [UInt8]) -> Int32
    public var linkCreatePerfEvent: @Sendable (_ programFD: Int32, _ perfEventFD: Int32) -> Int32
    /// A tracing program's link (`BPF_LINK_CREATE` with its attach type, no target).
    public var linkCreateTracing: @Sendable (_ programFD: Int32, _ attachType: UInt32) -> Int32
    /// `BPF_RAW_TRACEPOINT_OPEN` of a tracing program (kernels without tracing links).
    public var rawTracepointOpen: @Sendable (_ programFD: Int32) -> Int32
    /// `BPF_ITER_CREATE`: an fd whose reads run an iterator program.
    public var iteratorCreate: @Sendable (_ linkFD: Int32) -> Int32
    /// `read(2)` into the buffer: the byte count, 0 at the end, or -errno.
    public var read: @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int
    /// `info` is sized to the struct the caller wants; on success it is cut to what the kernel wrote.
    public var objectInfo: @Sendable (_ fd: Int32, _ info: inout [UInt8]) -> Int32
    /// A program's translated (post-verifier) instructions into `instructions`, sized to the
    /// buffer; on success cut to what the kernel wrote, empty if it withheld them. Returns 0 or
    /// `-errno`; `fullLength` is the kernel's size in bytes (larger than the buffer: truncated).
    public var programInstructions: @Sendable (_ fd: Int32, _ instructions: inout [UInt8],
                                               _ fullLength: inout UInt32) -> Int32
    public var enableStats: @Sendable (_ type: UInt32) -> Int32
    /// The id after `start` of a program, map or link; -ENOENT at the end.
    public var nextID: @Sendable (_ kind: KernelObjectKind, _ start: UInt32, _ next: inout UInt32) -> Int32
    public var fdByID: @Sendable (_ kind: KernelObjectKind, _ id: UInt32) -> Int32

    // MARK: perf events and their rings
    public var perfEventOpen: @Sendable (PerfEventOpenRequest) -> Int32
    public var ioctlInt: @Sendable (_ fd: Int32, _ request: UInt, _ argument: Int32) -> Int32
    /// A mapping of `length` bytes of `fd` from `offset`, read-only unless `writable`, shared
    /// (a ring) or private (a file read in place); sets `address` on success.
    public var mapMemory: @Sendable (_ fd: Int32, _ length: Int, _ offset: Int, _ writable: Bool, _ shared: Bool,
                                     _ address: inout UnsafeMutableRawPointer?) -> Int32
    public var unmapMemory: @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Int32

    // MARK: waiting
    public var epollCreate: @Sendable () -> Int32
    /// Adds `fd` for readability, reported with `token`; edge-triggered: only when it becomes
    /// readable again (a wakeup), not whenever it is.
    public var epollAdd: @Sendable (_ epollFD: Int32, _ fd: Int32, _ edgeTriggered: Bool, _ token: UInt64) -> Int32
    /// The number of events filled in, 0 on timeout.
    public var epollWait: @Sendable (_ epollFD: Int32, _ events: UnsafeMutableBufferPointer<epoll_event>,
                                     _ timeoutMilliseconds: Int32) -> Int32
    /// A non-blocking, close-on-exec eventfd.
    public var eventFDCreate: @Sendable () -> Int32
    /// Adds one to the eventfd's counter, making it readable.
    public var eventFDSignal: @Sendable (_ fd: Int32) -> Int32

    // MARK: filesystems
    /// mount(2) without data.
    public var mount: @Sendable (_ source: String, _ target: String, _ filesystemType: String) -> Int32

    // MARK: credentials (of the calling thread)
    public var capabilityGet: @Sendable (_ state: inout CapabilityState) -> Int32
    public var capabilitySet: @Sendable (CapabilityState) -> Int32
    public var prctl: @Sendable (_ option: Int32, _ argument2: UInt, _ argument3: UInt) -> Int32
    /// setgroups(0, NULL): no supplementary groups.
    public var clearGroups: @Sendable () -> Int32
    /// setresgid(gid, gid, gid).
    public var setGroupID: @Sendable (_ gid: UInt32) -> Int32
    /// setresuid(uid, uid, uid).
    public var setUserID: @Sendable (_ uid: UInt32) -> Int32

    // MARK: the listening socket
    /// A close-on-exec TCP socket of `family` (AF_INET, AF_INET6).
    public var streamSocket: @Sendable (_ family: Int32) -> Int32
    public var setSocketOption: @Sendable (_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Int32
    /// `address` is a `sockaddr_in` or `sockaddr_in6`, as bytes.
    public var bind: @Sendable (_ fd: Int32, _ address: [UInt8]) -> Int32
    public var listen: @Sendable (_ fd: Int32, _ backlog: Int32) -> Int32
    /// getaddrinfo(3) for a passive TCP address: the first result as `sockaddr` bytes and its
    /// family; returns 0, or a negative `EAI_*` code (not an errno).
    public var resolve: @Sendable (_ host: String, _ port: UInt16, _ address: inout [UInt8], _ family: inout Int32) -> Int32
}

/// Which id space `nextID`/`fdByID` walk.
public enum KernelObjectKind: String, Sendable {
    case program, map, link
}
