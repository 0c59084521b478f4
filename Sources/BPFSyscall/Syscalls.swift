import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one funnel for raw kernel calls. Every call into the C shim (and
/// `close`, `mount`) goes through this file, so errors are shaped once:
/// the `-errno` the shim returns becomes a `SyscallError` naming the call,
/// with advice where the cause is known.
///
/// The raw calls are closures so that a test can replace one of them (copy
/// `.kernel`, overwrite a closure) and drive an error path the real kernel
/// will not produce on demand. Each raw closure returns what the shim does:
/// the result (fd, count, 0) or `-errno`; buffers are Swift arrays.
public struct Syscalls: Sendable {
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
    /// `info` is sized to the struct the caller wants; on success it is cut to what the kernel wrote.
    public var objectInfo: @Sendable (_ fd: Int32, _ info: inout [UInt8]) -> Int32
    public var enableStats: @Sendable (_ type: UInt32) -> Int32
    /// The id after `start` of a program, map or link; -ENOENT at the end.
    public var nextID: @Sendable (_ kind: KernelObjectKind, _ start: UInt32, _ next: inout UInt32) -> Int32
    public var fdByID: @Sendable (_ kind: KernelObjectKind, _ id: UInt32) -> Int32
    public var perfEventOpen: @Sendable (PerfEventOpenRequest) -> Int32
    public var ioctlInt: @Sendable (_ fd: Int32, _ request: UInt, _ argument: Int32) -> Int32
    /// mount(2) without data; returns 0 or -errno.
    public var mount: @Sendable (_ source: String, _ target: String, _ filesystemType: String) -> Int32

    public init(
        mapCreate: @escaping @Sendable (MapCreateRequest) -> Int32,
        mapUpdate: @escaping @Sendable (Int32, [UInt8], [UInt8], UInt64) -> Int32,
        mapLookup: @escaping @Sendable (Int32, [UInt8], inout [UInt8]) -> Int32,
        mapGetNextKey: @escaping @Sendable (Int32, [UInt8]?, inout [UInt8]) -> Int32,
        mapFreeze: @escaping @Sendable (Int32) -> Int32,
        btfLoad: @escaping @Sendable ([UInt8], UInt32, inout [UInt8]) -> Int32,
        programLoad: @escaping @Sendable (ProgramLoadRequest, UInt32, inout [UInt8]) -> Int32,
        linkCreatePerfEvent: @escaping @Sendable (Int32, Int32) -> Int32,
        objectInfo: @escaping @Sendable (Int32, inout [UInt8]) -> Int32,
        enableStats: @escaping @Sendable (UInt32) -> Int32,
        nextID: @escaping @Sendable (KernelObjectKind, UInt32, inout UInt32) -> Int32,
        fdByID: @escaping @Sendable (KernelObjectKind, UInt32) -> Int32,
        perfEventOpen: @escaping @Sendable (PerfEventOpenRequest) -> Int32,
        ioctlInt: @escaping @Sendable (Int32, UInt, Int32) -> Int32,
        mount: @escaping @Sendable (String, String, String) -> Int32
    ) {
        self.mapCreate = mapCreate
        self.mapUpdate = mapUpdate
        self.mapLookup = mapLookup
        self.mapGetNextKey = mapGetNextKey
        self.mapFreeze = mapFreeze
        self.btfLoad = btfLoad
        self.programLoad = programLoad
        self.linkCreatePerfEvent = linkCreatePerfEvent
        self.objectInfo = objectInfo
        self.enableStats = enableStats
        self.nextID = nextID
        self.fdByID = fdByID
        self.perfEventOpen = perfEventOpen
        self.ioctlInt = ioctlInt
        self.mount = mount
    }

    /// close(2) for owned descriptors. Not fakeable on purpose: a closed
    /// descriptor is gone whatever close returns (Linux never retries it).
    static func closeIgnoringErrors(_ fd: Int32) {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
    }
}

// MARK: - The live kernel

extension Syscalls {
    /// The real calls, through the C shim.
    public static let kernel = Syscalls(
        mapCreate: { request in
            request.name.withCString { name in
                cbpf_map_create(request.type, name, request.keySize, request.valueSize, request.maxEntries,
                                request.flags, request.btfFD, request.btfKeyTypeID, request.btfValueTypeID)
            }
        },
        mapUpdate: { fd, key, value, flags in
            key.withUnsafeBytes { key in
                value.withUnsafeBytes { value in
                    cbpf_map_update_elem(fd, key.baseAddress, value.baseAddress, flags)
                }
            }
        },
        mapLookup: { fd, key, value in
            key.withUnsafeBytes { key in
                value.withUnsafeMutableBytes { value in
                    cbpf_map_lookup_elem(fd, key.baseAddress, value.baseAddress)
                }
            }
        },
        mapGetNextKey: { fd, key, nextKey in
            nextKey.withUnsafeMutableBytes { next in
                if let key {
                    return key.withUnsafeBytes { cbpf_map_get_next_key(fd, $0.baseAddress, next.baseAddress) }
                }
                return cbpf_map_get_next_key(fd, nil, next.baseAddress)
            }
        },
        mapFreeze: { fd in cbpf_map_freeze(fd) },
        btfLoad: { btf, logLevel, log in
            let logSize = UInt32(clamping: log.count)
            return btf.withUnsafeBytes { btf in
                log.withUnsafeMutableBytes { log in
                    // An empty array's baseAddress need not be nil, and the kernel refuses
                    // a log buffer with size 0 (EINVAL): no log means a NULL buffer.
                    cbpf_btf_load(btf.baseAddress, UInt32(clamping: btf.count),
                                  logSize == 0 ? nil : log.baseAddress?.assumingMemoryBound(to: CChar.self),
                                  logSize, logSize == 0 ? 0 : logLevel)
                }
            }
        },
        programLoad: { request, logLevel, log in
            let logSize = UInt32(clamping: log.count)
            let slotCount = UInt32(clamping: request.instructions.count / 8)
            let funcCount = UInt32(clamping: request.funcInfo.count) / ProgramLoadRequest.funcInfoRecordSize
            let lineCount = UInt32(clamping: request.lineInfo.count) / ProgramLoadRequest.lineInfoRecordSize
            return request.name.withCString { name in
                request.license.withCString { license in
                    request.instructions.withUnsafeBytes { instructions in
                        request.funcInfo.withUnsafeBytes { funcInfo in
                            request.lineInfo.withUnsafeBytes { lineInfo in
                                log.withUnsafeMutableBytes { log in
                                    cbpf_prog_load(
                                        request.type, name, instructions.baseAddress, slotCount, license,
                                        request.kernelVersion, request.btfFD,
                                        funcCount == 0 ? nil : funcInfo.baseAddress,
                                        funcCount == 0 ? 0 : ProgramLoadRequest.funcInfoRecordSize, funcCount,
                                        lineCount == 0 ? nil : lineInfo.baseAddress,
                                        lineCount == 0 ? 0 : ProgramLoadRequest.lineInfoRecordSize, lineCount,
                                        // No log: NULL buffer (see btfLoad).
                                        logSize == 0 ? nil : log.baseAddress?.assumingMemoryBound(to: CChar.self),
                                        logSize, logSize == 0 ? 0 : logLevel)
                                }
                            }
                        }
                    }
                }
            }
        },
        linkCreatePerfEvent: { programFD, perfEventFD in cbpf_link_create_perf_event(programFD, perfEventFD) },
        objectInfo: { fd, info in
            var length = UInt32(clamping: info.count)
            let result = info.withUnsafeMutableBytes { cbpf_obj_get_info_by_fd(fd, $0.baseAddress, &length) }
            if result == 0, Int(length) < info.count { info.removeLast(info.count - Int(length)) }
            return result
        },
        enableStats: { type in cbpf_enable_stats(type) },
        nextID: { kind, start, next in
            switch kind {
            case .program: return cbpf_prog_get_next_id(start, &next)
            case .map: return cbpf_map_get_next_id(start, &next)
            case .link: return cbpf_link_get_next_id(start, &next)
            }
        },
        fdByID: { kind, id in
            switch kind {
            case .program: return cbpf_prog_get_fd_by_id(id)
            case .map: return cbpf_map_get_fd_by_id(id)
            case .link: return cbpf_link_get_fd_by_id(id)
            }
        },
        perfEventOpen: { request in
            cbpf_perf_event_open(request.type, request.config, request.sampleType, request.samplePeriod,
                                 request.wakeup, request.useWatermark ? 1 : 0, request.pid, request.cpu,
                                 request.groupFD, request.flags)
        },
        ioctlInt: { fd, request, argument in cbpf_ioctl_int(fd, request, argument) },
        mount: { source, target, filesystemType in
            Glibc.mount(source, target, filesystemType, 0, nil) == 0 ? 0 : -Glibc.errno
        }
    )
}

// MARK: - Throwing wrappers: the only place a raw result becomes an error

extension Syscalls {
    /// `-errno` becomes a `SyscallError`; anything else is returned.
    @inline(__always)
    static func check(_ result: Int32, _ call: String) throws(SyscallError) -> Int32 {
        guard result >= 0 else { throw SyscallError(call: call, errno: -result) }
        return result
    }

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

    public func openPerfEvent(_ request: PerfEventOpenRequest) throws(SyscallError) -> FileDescriptor {
        FileDescriptor(owning: try Self.check(perfEventOpen(request), "perf_event_open"))
    }

    /// `ioctl(fd, request, argument)`; `name` is the request's name for errors.
    public func ioctl(_ fd: Int32, _ request: UInt, _ argument: Int32, name: String) throws(SyscallError) {
        _ = try Self.check(ioctlInt(fd, request, argument), "ioctl(\(name))")
    }

    public func mountFilesystem(source: String, target: String, type: String) throws(SyscallError) {
        _ = try Self.check(mount(source, target, type), "mount")
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
}
