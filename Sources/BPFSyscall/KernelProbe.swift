import CBPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A probe call the kernel refused: which call, and the errno.
public struct KernelProbeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var errnoName: String {
        switch errno {
        case EPERM: "EPERM"
        case EACCES: "EACCES"
        case EINVAL: "EINVAL"
        case ENOENT: "ENOENT"
        case ENOSYS: "ENOSYS"
        case ENOMEM: "ENOMEM"
        case E2BIG: "E2BIG"
        case EBUSY: "EBUSY"
        case ENODEV: "ENODEV"
        case EOPNOTSUPP: "EOPNOTSUPP"
        default: "errno \(errno)"
        }
    }

    public var description: String {
        "\(call): \(errnoName) (\(String(cString: strerror(errno))))"
    }
}

/// The cheapest proofs that this process may do what `run` does: each probe
/// creates kernel objects and closes them at once. Used by the `check` subcommand.
public enum KernelProbe {
    /// BPF_MAP_CREATE of a one-element array map, then close.
    public static func createArrayMap() throws(KernelProbeFailure) {
        let fd = cbpf_map_create(BPF_MAP_TYPE_ARRAY.rawValue, "rtx_probe", 4, 4, 1, 0, 0, 0, 0)
        guard fd >= 0 else { throw KernelProbeFailure(call: "bpf(BPF_MAP_CREATE)", errno: -fd) }
        close(fd)
    }

    /// Loads a two-instruction tracepoint program (`r0 = 0; exit`), opens the
    /// tracepoint as a perf event on CPU 0 and links the two, as `run` does with
    /// the real program, then closes everything (which detaches).
    public static func attachToTracepoint(id: UInt64) throws(KernelProbeFailure) {
        let returnZero: [UInt8] = [
            0xb7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // BPF_ALU64 | BPF_MOV | BPF_K: r0 = 0
            0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // BPF_JMP | BPF_EXIT
        ]
        let programFD = returnZero.withUnsafeBytes { instructions in
            cbpf_prog_load(BPF_PROG_TYPE_TRACEPOINT.rawValue, "rtx_probe", instructions.baseAddress,
                           2, "GPL", 0, 0, nil, 0, 0, nil, 0, 0, nil, 0, 0)
        }
        guard programFD >= 0 else {
            throw KernelProbeFailure(call: "bpf(BPF_PROG_LOAD) of a tracepoint program", errno: -programFD)
        }
        defer { close(programFD) }

        // One event on CPU 0 (pid -1) is enough: the program runs on every CPU.
        let eventFD = cbpf_perf_event_open(UInt32(PERF_TYPE_TRACEPOINT.rawValue), id,
                                           UInt64(PERF_SAMPLE_RAW.rawValue), 1, 1, 0, -1, 0, -1,
                                           UInt(PERF_FLAG_FD_CLOEXEC))
        guard eventFD >= 0 else {
            throw KernelProbeFailure(call: "perf_event_open(tracepoint \(id), cpu 0)", errno: -eventFD)
        }
        defer { close(eventFD) }

        let linkFD = cbpf_link_create_perf_event(programFD, eventFD)
        if linkFD >= 0 {
            close(linkFD)
            return
        }
        // Kernels without perf links (before 5.15) attach with the ioctl instead.
        let attached = cbpf_ioctl_int(eventFD, CBPF_PERF_EVENT_IOC_SET_BPF, programFD)
        guard attached >= 0 else {
            throw KernelProbeFailure(call: "bpf(BPF_LINK_CREATE) and ioctl(PERF_EVENT_IOC_SET_BPF)",
                                     errno: -attached)
        }
    }
}
