import CBPFSyscall
#if canImport(Glibc)
import Glibc
#endif

// The live kernel: the only file that calls the C shim (a test greps for `cbpf_` elsewhere).

extension Syscalls {
    /// The real calls.
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
                                        request.expectedAttachType, request.attachBTFID, request.attachBTFObjectFD,
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
        linkCreateTracing: { programFD, attachType in cbpf_link_create_tracing(programFD, attachType) },
        rawTracepointOpen: { programFD in cbpf_raw_tracepoint_open(programFD) },
        iteratorCreate: { linkFD in cbpf_iter_create(linkFD) },
        read: { fd, buffer in cbpf_read(fd, buffer.baseAddress, buffer.count) },
        objectInfo: { fd, info in
            var length = UInt32(clamping: info.count)
            let result = info.withUnsafeMutableBytes { cbpf_obj_get_info_by_fd(fd, $0.baseAddress, &length) }
            if result == 0, Int(length) < info.count { info.removeLast(info.count - Int(length)) }
            return result
        },
        programInstructions: { fd, instructions, fullLength in
            var length = UInt32(clamping: instructions.count)
            let result = instructions.withUnsafeMutableBytes { cbpf_prog_get_xlated_insns(fd, $0.baseAddress, &length) }
            fullLength = result == 0 ? length : 0
            if result == 0, Int(length) < instructions.count { instructions.removeLast(instructions.count - Int(length)) }
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
        mapMemory: { fd, length, offset, writable, shared, address in
            cbpf_mmap(fd, length, offset, writable ? 1 : 0, shared ? 1 : 0, &address)
        },
        unmapMemory: { address, length in cbpf_munmap(address, length) },
        epollCreate: { cbpf_epoll_create() },
        epollAdd: { epollFD, fd, edgeTriggered, token in
            cbpf_epoll_add(epollFD, fd, EPOLLIN.rawValue | (edgeTriggered ? EPOLLET.rawValue : 0), token)
        },
        epollWait: { epollFD, events, timeout in
            cbpf_epoll_wait(epollFD, events.baseAddress, Int32(clamping: events.count), timeout)
        },
        eventFDCreate: { cbpf_eventfd() },
        eventFDSignal: { fd in cbpf_eventfd_signal(fd) },
        mount: { source, target, filesystemType in
            Glibc.mount(source, target, filesystemType, 0, nil) == 0 ? 0 : -Glibc.errno
        },
        capabilityGet: { state in
            var effective: (UInt32, UInt32) = (0, 0)
            var permitted: (UInt32, UInt32) = (0, 0)
            var inheritable: (UInt32, UInt32) = (0, 0)
            let result = withUnsafeMutableBytes(of: &effective) { effective in
                withUnsafeMutableBytes(of: &permitted) { permitted in
                    withUnsafeMutableBytes(of: &inheritable) { inheritable in
                        cbpf_capget(0, effective.baseAddress?.assumingMemoryBound(to: UInt32.self),
                                    permitted.baseAddress?.assumingMemoryBound(to: UInt32.self),
                                    inheritable.baseAddress?.assumingMemoryBound(to: UInt32.self))
                    }
                }
            }
            func combine(_ words: (UInt32, UInt32)) -> UInt64 { UInt64(words.0) | UInt64(words.1) << 32 }
            if result == 0 {
                state = CapabilityState(effective: combine(effective), permitted: combine(permitted),
                                        inheritable: combine(inheritable))
            }
            return result
        },
        capabilitySet: { state in
            func words(_ set: UInt64) -> [UInt32] { [UInt32(truncatingIfNeeded: set), UInt32(truncatingIfNeeded: set >> 32)] }
            return cbpf_capset(words(state.effective), words(state.permitted), words(state.inheritable))
        },
        prctl: { option, argument2, argument3 in cbpf_prctl(option, argument2, argument3, 0, 0) },
        clearGroups: { cbpf_clear_groups() },
        setGroupID: { gid in cbpf_setresgid(gid) },
        setUserID: { uid in cbpf_setresuid(uid) },
        streamSocket: { family in
            let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            return fd >= 0 ? fd : -Glibc.errno
        },
        setSocketOption: { fd, level, name, value in
            var value = value
            let size = socklen_t(MemoryLayout<Int32>.size)
            return Glibc.setsockopt(fd, level, name, &value, size) == 0 ? 0 : -Glibc.errno
        },
        bind: { fd, address in
            let result = address.withUnsafeBytes { bytes in
                Glibc.bind(fd, bytes.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(bytes.count))
            }
            return result == 0 ? 0 : -Glibc.errno
        },
        listen: { fd, backlog in Glibc.listen(fd, backlog) == 0 ? 0 : -Glibc.errno },
        resolve: { host, port, address, family in
            var hints = addrinfo()
            hints.ai_flags = AI_PASSIVE
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var results: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &results)
            guard status == 0 else { return status < 0 ? status : -status }
            defer { freeaddrinfo(results) }
            guard let first = results, let socketAddress = first.pointee.ai_addr else { return EAI_NONAME }
            address = Array(UnsafeRawBufferPointer(start: socketAddress, count: Int(first.pointee.ai_addrlen)))
            family = first.pointee.ai_family
            return 0
        }
    )

    /// close(2) for owned descriptors. Not fakeable on purpose: a closed
    /// descriptor is gone whatever close returns (Linux never retries it).
    static func closeIgnoringErrors(_ fd: Int32) {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
    }
}

/// `data_head` and `data_tail` of a mapped perf ring: plain memory shared with the
/// kernel, not calls, so not fakeable; here because they are the shim's.
enum RingPositions {
    /// Acquire: the record bytes before the head are visible once we see the head.
    static func loadHead(_ page: UnsafePointer<perf_event_mmap_page>) -> UInt64 {
        cbpf_ring_load_head(page)
    }

    /// Release: our reads of the records finish before the kernel may overwrite them.
    static func storeTail(_ page: UnsafeMutablePointer<perf_event_mmap_page>, _ tail: UInt64) {
        cbpf_ring_store_tail(page, tail)
    }

    /// A BPF ring buffer's producer or consumer position, or a record's length word.
    static func loadAcquire(_ address: UnsafeRawPointer) -> UInt64 { cbpf_load_acquire_u64(address) }
    static func loadAcquire32(_ address: UnsafeRawPointer) -> UInt32 { cbpf_load_acquire_u32(address) }
    static func storeRelease(_ address: UnsafeMutableRawPointer, _ value: UInt64) {
        cbpf_store_release_u64(address, value)
    }
}
