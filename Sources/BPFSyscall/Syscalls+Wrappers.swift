import CBPFSyscall
#if canImport(Glibc)
import Glibc
#endif

// The throwing wrappers: the only place a raw result becomes an error.

extension Syscalls {
    /// `-errno` becomes a `SyscallError`; anything else is returned.
    @inline(__always)
    static func check(_ result: Int32, _ call: String) throws(SyscallError) -> Int32 {
        guard result >= 0 else { throw SyscallError(call: call, errno: -result) }
        return result
    }

    // MARK: bpf(2)

    public func createMap(_ request: MapCreateRequest) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(mapCreate(request), "BPF_MAP_CREATE"))
    }

    public func updateElement(_ fd: Int32, key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws(SyscallError) {
        _ = try Self.check(mapUpdate(fd, key, value, flags), "BPF_MAP_UPDATE_ELEM")
    }

    /// nil when the key is absent (ENOENT).
    public func lookupElement(_ fd: Int32, key: [UInt8], valueSize: Int) throws(SyscallError) -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: valueSize)
        let result = mapLookup(fd, key, &value)
        if result == -ENOENT { return nil }
        _ = try Self.check(result, "BPF_MAP_LOOKUP_ELEM")
        return value
    }

    /// The key after `key` (or the first key when nil); nil after the last one.
    public func nextKey(_ fd: Int32, after key: [UInt8]?, keySize: Int) throws(SyscallError) -> [UInt8]? {
        var next = [UInt8](repeating: 0, count: keySize)
        let result = mapGetNextKey(fd, key, &next)
        if result == -ENOENT { return nil }
        _ = try Self.check(result, "BPF_MAP_GET_NEXT_KEY")
        return next
    }

    public func freezeMap(_ fd: Int32) throws(SyscallError) {
        _ = try Self.check(mapFreeze(fd), "BPF_MAP_FREEZE")
    }

    public func createLink(programFD: Int32, perfEventFD: Int32) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(linkCreatePerfEvent(programFD, perfEventFD), "BPF_LINK_CREATE"))
    }

    public func createTracingLink(programFD: Int32, attachType: UInt32) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(linkCreateTracing(programFD, attachType), "BPF_LINK_CREATE"))
    }

    public func openRawTracepoint(programFD: Int32) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(rawTracepointOpen(programFD), "BPF_RAW_TRACEPOINT_OPEN"))
    }

    /// Runs an iterator link once: a new `BPF_ITER_CREATE` session read to its end (each read
    /// runs the program over the next objects). At most `limit` bytes.
    public func readIterator(linkFD: Int32, limit: Int = 16 << 20) throws(SyscallError) -> [UInt8] {
        let session = FileDescriptor(owning: try Self.check(iteratorCreate(linkFD), "BPF_ITER_CREATE"))
        let result = readToEnd(session.rawValue, limit: limit)
        session.close()
        return try result.get()
    }

    private func readToEnd(_ fd: Int32, limit: Int) -> Result<[UInt8], SyscallError> {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while output.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0) }
            if count < 0 { return .failure(SyscallError(call: "read(BPF iterator)", errno: Int32(truncatingIfNeeded: -count))) }
            if count == 0 { break }
            output.append(contentsOf: chunk[..<count])
        }
        return .success(output)
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` into a zeroed `size`-byte buffer; returns the bytes the kernel filled.
    public func info(_ fd: Int32, size: Int) throws(SyscallError) -> [UInt8] {
        var info = [UInt8](repeating: 0, count: size)
        _ = try Self.check(objectInfo(fd, &info), "BPF_OBJ_GET_INFO_BY_FD")
        return info
    }

    public func enableStatistics(type: UInt32) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(enableStats(type), "BPF_ENABLE_STATS"))
    }

    /// The id after `start`, or nil at the end.
    public func id(after start: UInt32, kind: KernelObjectKind) throws(SyscallError) -> UInt32? {
        var next: UInt32 = 0
        let result = nextID(kind, start, &next)
        if result == -ENOENT { return nil }
        _ = try Self.check(result, Self.nextIDCall(kind))
        return next
    }

    /// An fd for object `id`, or nil if it went away meanwhile (ENOENT).
    public func open(id: UInt32, kind: KernelObjectKind) throws(SyscallError) -> FileDescriptor? {
        let result = fdByID(kind, id)
        if result == -ENOENT { return nil }
        return FileDescriptor(owning: try Self.check(result, Self.fdByIDCall(kind)))
    }

    private static func nextIDCall(_ kind: KernelObjectKind) -> String {
        switch kind {
        case .program: return "BPF_PROG_GET_NEXT_ID"
        case .map: return "BPF_MAP_GET_NEXT_ID"
        case .link: return "BPF_LINK_GET_NEXT_ID"
        }
    }

    private static func fdByIDCall(_ kind: KernelObjectKind) -> String {
        switch kind {
        case .program: return "BPF_PROG_GET_FD_BY_ID"
        case .map: return "BPF_MAP_GET_FD_BY_ID"
        case .link: return "BPF_LINK_GET_FD_BY_ID"
        }
    }

    // MARK: perf events and rings

    public func openPerfEvent(_ request: PerfEventOpenRequest) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(perfEventOpen(request), "perf_event_open"))
    }

    /// `ioctl(fd, request, argument)`; `name` is the request's name for errors.
    public func ioctl(_ fd: Int32, _ request: UInt, _ argument: Int32, name: String) throws(SyscallError) {
        _ = try Self.check(ioctlInt(fd, request, argument), "ioctl(\(name))")
    }

    /// A shared mapping of `length` bytes of `fd` from `offset` (read-write unless `writable` is
    /// false); `what` names it in errors ("perf ring").
    public func mapShared(fd: Int32, length: Int, offset: Int = 0, writable: Bool = true,
                          what: String) throws(SyscallError) -> UnsafeMutableRawPointer {
        var address: UnsafeMutableRawPointer?
        let result = mapMemory(fd, length, offset, writable, true, &address)
        guard result == 0, let address else {
            throw SyscallError(call: "mmap(\(what), \(length) bytes)", errno: result < 0 ? -result : EINVAL)
        }
        return address
    }

    /// A private read-only mapping of a whole file of `length` bytes, e.g. the kernel's BTF,
    /// which sysfs otherwise hands out 4 KiB per read(2).
    public func mapFile(fd: Int32, length: Int, what: String) throws(SyscallError) -> UnsafeMutableRawPointer {
        var address: UnsafeMutableRawPointer?
        let result = mapMemory(fd, length, 0, false, false, &address)
        guard result == 0, let address else {
            throw SyscallError(call: "mmap(\(what), \(length) bytes)", errno: result < 0 ? -result : EINVAL)
        }
        return address
    }

    /// Fails only for an address that was not mapped; nothing to recover.
    public func unmap(_ address: UnsafeMutableRawPointer, length: Int) {
        _ = unmapMemory(address, length)
    }

    // MARK: waiting

    public func createEpoll() throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(epollCreate(), "epoll_create1"))
    }

    public func addToEpoll(_ epollFD: Int32, fd: Int32, edgeTriggered: Bool = false, token: UInt64) throws(SyscallError) {
        _ = try Self.check(epollAdd(epollFD, fd, edgeTriggered, token), "epoll_ctl(EPOLL_CTL_ADD)")
    }

    /// The number of events filled in; 0 on timeout or when a signal interrupted the wait.
    public func waitForEvents(_ epollFD: Int32, into events: UnsafeMutableBufferPointer<epoll_event>,
                              timeoutMilliseconds: Int32) throws(SyscallError) -> Int {
        let result = epollWait(epollFD, events, timeoutMilliseconds)
        if result == -EINTR { return 0 }
        return Int(try Self.check(result, "epoll_wait"))
    }

    public func createEventFD() throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(eventFDCreate(), "eventfd"))
    }

    /// Can fail only if the counter would pass 2^64 - 2, and it is readable then anyway.
    public func signal(eventFD fd: Int32) {
        _ = eventFDSignal(fd)
    }

    // MARK: filesystems

    public func mountFilesystem(source: String, target: String, type: String) throws(SyscallError) {
        _ = try Self.check(mount(source, target, type), "mount")
    }

    // MARK: credentials

    /// The calling thread's capability sets.
    public func capabilities() throws(SyscallError) -> CapabilityState {
        var state = CapabilityState(effective: 0, permitted: 0, inheritable: 0)
        _ = try Self.check(capabilityGet(&state), "capget")
        return state
    }

    public func setCapabilities(_ state: CapabilityState) throws(SyscallError) {
        _ = try Self.check(capabilitySet(state), "capset")
    }

    /// Removes one capability from the bounding set (needs CAP_SETPCAP); a number this
    /// kernel does not know (EINVAL) is already absent.
    public func dropFromBoundingSet(_ capability: Int32) throws(SyscallError) {
        let result = prctl(CBPF_PR_CAPBSET_DROP, UInt(capability), 0)
        if result == -EINVAL { return }
        _ = try Self.check(result, "prctl(PR_CAPBSET_DROP)")
    }

    /// Empties the ambient set (EINVAL: a kernel before 4.3 has none).
    public func clearAmbientCapabilities() throws(SyscallError) {
        let result = prctl(CBPF_PR_CAP_AMBIENT, CBPF_PR_CAP_AMBIENT_CLEAR_ALL, 0)
        if result == -EINVAL { return }
        _ = try Self.check(result, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    }

    /// From now on no exec can gain privileges, not even through a setuid binary.
    public func setNoNewPrivileges() throws(SyscallError) {
        _ = try Self.check(prctl(CBPF_PR_SET_NO_NEW_PRIVS, 1, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    }

    /// No supplementary groups, then the gid, then the uid (after the uid, the gid could no
    /// longer change). Needs CAP_SETGID and CAP_SETUID.
    public func switchUser(uid: UInt32, gid: UInt32) throws(SyscallError) {
        _ = try Self.check(clearGroups(), "setgroups")
        _ = try Self.check(setGroupID(gid), "setresgid")
        _ = try Self.check(setUserID(uid), "setresuid")
    }
}
