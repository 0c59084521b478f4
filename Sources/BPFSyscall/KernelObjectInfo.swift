import CBPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// `struct bpf_prog_info`, the parts this project reads.
public struct ProgramInfo: Sendable, Equatable {
    public var id: UInt32
    public var type: UInt32
    /// The kernel's copy of the name: at most 15 bytes (`tcp_retransmit_skb` becomes `tcp_retransmit_`).
    public var name: String
    /// The program's tag (hash of its instructions), as hex.
    public var tag: String
    /// Total time spent in the program, while `BPF_ENABLE_STATS` is held by someone.
    public var runTimeNanoseconds: UInt64
    /// Runs counted while statistics are enabled.
    public var runCount: UInt64
    public var recursionMisses: UInt64
    public var verifiedInstructions: UInt32
    /// Id of the program's BTF object, 0 without BTF.
    public var btfID: UInt32
    public var funcInfoCount: UInt32
    public var lineInfoCount: UInt32
    /// Bytes of the program's translated instructions (`xlated_prog_len`); 0 for callers without CAP_BPF.
    public var translatedLength: UInt32

    /// Nanoseconds per run, nil before the first counted run.
    public var averageRunTimeNanoseconds: Double? {
        runCount == 0 ? nil : Double(runTimeNanoseconds) / Double(runCount)
    }
}

/// `struct bpf_map_info`, the parts this project reads.
public struct MapInfo: Sendable, Equatable {
    public var id: UInt32
    public var type: UInt32
    public var name: String
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    public var flags: UInt32
    public var btfID: UInt32
}

extension Syscalls {
    public func programInfo(_ fd: Int32) throws(SyscallError) -> ProgramInfo {
        let info = decode(try self.info(fd, size: MemoryLayout<bpf_prog_info>.size), as: bpf_prog_info.self)
        return ProgramInfo(
            id: info.id, type: info.type, name: cString(info.name), tag: hex(info.tag),
            runTimeNanoseconds: info.run_time_ns, runCount: info.run_cnt,
            recursionMisses: info.recursion_misses, verifiedInstructions: info.verified_insns,
            btfID: info.btf_id, funcInfoCount: info.nr_func_info, lineInfoCount: info.nr_line_info,
            translatedLength: info.xlated_prog_len)
    }

    /// The program's instructions after the verifier's rewrites, as `bpftool prog dump xlated`
    /// reads them: a second info call with a buffer of the size the first one reported. Map
    /// references hold map ids (and offsets), helper calls the kernel's call offsets.
    public func translatedInstructions(_ fd: Int32) throws(SyscallError) -> [UInt8] {
        let call = "BPF_OBJ_GET_INFO_BY_FD(xlated_prog_insns)"
        let length = try programInfo(fd).translatedLength
        var instructions = [UInt8](repeating: 0, count: Int(length))
        var fullLength: UInt32 = 0
        _ = try Self.check(programInstructions(fd, &instructions, &fullLength), call)
        guard length > 0, fullLength == length, instructions.count == Int(length) else {
            throw SyscallError(call: call, errno: EPERM, advice: "the kernel withheld the translated instructions "
                + "(\(fullLength) of \(length) bytes): reading them needs CAP_BPF, and CAP_SYS_ADMIN when the JIT blinds constants")
        }
        return instructions
    }

    public func mapInfo(_ fd: Int32) throws(SyscallError) -> MapInfo {
        let info = decode(try self.info(fd, size: MemoryLayout<bpf_map_info>.size), as: bpf_map_info.self)
        return MapInfo(id: info.id, type: info.type, name: cString(info.name), keySize: info.key_size,
                       valueSize: info.value_size, maxEntries: info.max_entries, flags: info.map_flags,
                       btfID: info.btf_id)
    }

    /// Every program loaded in the kernel now (by anyone), by walking the id space.
    /// Programs that unload while we walk are skipped.
    public func loadedPrograms() throws(SyscallError) -> [ProgramInfo] {
        var programs: [ProgramInfo] = []
        var id: UInt32 = 0
        while let next = try self.id(after: id, kind: .program) {
            id = next
            guard let fd = try open(id: next, kind: .program) else { continue }
            programs.append(try programInfo(fd.rawValue))
        }
        return programs
    }

    /// Every map in the kernel now, by walking the id space.
    public func loadedMaps() throws(SyscallError) -> [MapInfo] {
        var maps: [MapInfo] = []
        var id: UInt32 = 0
        while let next = try self.id(after: id, kind: .map) {
            id = next
            guard let fd = try open(id: next, kind: .map) else { continue }
            maps.append(try mapInfo(fd.rawValue))
        }
        return maps
    }

    /// Every link id in the kernel now.
    public func loadedLinkIDs() throws(SyscallError) -> [UInt32] {
        var ids: [UInt32] = []
        var id: UInt32 = 0
        while let next = try self.id(after: id, kind: .link) {
            ids.append(next)
            id = next
        }
        return ids
    }
}

/// A kernel struct from the bytes `BPF_OBJ_GET_INFO_BY_FD` filled (zero-padded if the kernel's is shorter).
private func decode<T>(_ bytes: [UInt8], as type: T.Type) -> T {
    var padded = bytes
    if padded.count < MemoryLayout<T>.size {
        padded.append(contentsOf: repeatElement(0, count: MemoryLayout<T>.size - padded.count))
    }
    return padded.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
}

/// A fixed C char array (imported as a tuple) up to its NUL.
private func cString<Tuple>(_ tuple: Tuple) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let end = raw.firstIndex(of: 0) ?? raw.endIndex
        return String(decoding: raw[..<end], as: UTF8.self)
    }
}

private func hex<Tuple>(_ tuple: Tuple) -> String {
    withUnsafeBytes(of: tuple) { raw in
        raw.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }
}

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`, held: while this lives, the kernel
/// counts every program's run count and run time (like sysctl
/// kernel.bpf_stats_enabled, but released with the process).
public struct RuntimeStatistics: ~Copyable, Sendable {
    public let fd: FileDescriptor

    public init(syscalls: Syscalls = .kernel) throws {
        fd = try withContext("enable BPF run-time statistics") {
            try syscalls.enableStatistics(type: BPF_STATS_RUN_TIME.rawValue)
        }
    }

    public consuming func close() { fd.close() }

    /// Moves the handle into a class, for holders that must be `Sendable` classes.
    public consuming func shared() -> SharedFileDescriptor { SharedFileDescriptor(fd) }
}
