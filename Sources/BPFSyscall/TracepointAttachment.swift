import CBPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// How a program is tied to its tracepoint's perf event.
public enum AttachMethod: String, Sendable, Equatable {
    /// `BPF_LINK_CREATE` with `BPF_PERF_EVENT`, falling back to the ioctl on kernels without perf links.
    case automatic
    /// `BPF_LINK_CREATE` (Linux 5.15+): a link object, visible to `bpftool link`.
    case perfLink = "perf-link"
    /// `PERF_EVENT_IOC_SET_BPF` + `PERF_EVENT_IOC_ENABLE`: the older way, no link object.
    case perfEventIoctl = "perf-event-ioctl"
}

/// A program attached to a tracepoint. Closing it (or dropping it) detaches the program.
public struct TracepointAttachment: ~Copyable, Sendable {
    public let category: String
    public let name: String
    /// `.perfLink` or `.perfEventIoctl`: the method that was used.
    public let method: AttachMethod
    /// The tracepoint's perf event (opened on CPU 0; the program runs on every CPU).
    public let perfEvent: FileDescriptor
    /// The link, with `.perfLink`.
    public let link: FileDescriptor?

    /// Attaches `programFD` to tracepoint `category/name`.
    /// With `.automatic`, a link is tried first and the ioctl used when the kernel
    /// answers EINVAL or EOPNOTSUPP (no perf links); the other methods force one way.
    public static func attach(programFD: Int32, category: String, name: String,
                              method: AttachMethod = .automatic, tracefs: Tracefs? = nil,
                              syscalls: Syscalls = .kernel) throws -> TracepointAttachment {
        try withContext("attach to tracepoint \(category)/\(name)") {
            let tracefs = try tracefs ?? Tracefs.locate(syscalls: syscalls)
            let id = try tracefs.tracepointID(category: category, name: name)
            // pid -1 with cpu -1 is EINVAL for tracepoints; one event on CPU 0 covers every CPU.
            let perfEvent = try syscalls.openPerfEvent(PerfEventOpenRequest(
                type: PERF_TYPE_TRACEPOINT.rawValue, config: id, pid: -1, cpu: 0))

            var link: FileDescriptor?
            var used = method
            if method != .perfEventIoctl {
                do {
                    link = try syscalls.createLink(programFD: programFD, perfEventFD: perfEvent.rawValue)
                    used = .perfLink
                } catch let error as SyscallError where method == .automatic && (error.errno == EINVAL || error.errno == EOPNOTSUPP) {
                    used = .perfEventIoctl
                }
            }
            if used == .perfEventIoctl {
                try syscalls.ioctl(perfEvent.rawValue, CBPF_PERF_EVENT_IOC_SET_BPF, programFD,
                                   name: "PERF_EVENT_IOC_SET_BPF")
            }
            // The event is created enabled; enabling again is harmless and what libbpf does in both paths.
            try syscalls.ioctl(perfEvent.rawValue, CBPF_PERF_EVENT_IOC_ENABLE, 0, name: "PERF_EVENT_IOC_ENABLE")
            return TracepointAttachment(category: category, name: name, method: used,
                                        perfEvent: perfEvent, link: link)
        }
    }

    /// The link's fd, nil with the ioctl method.
    public var linkFD: Int32? {
        switch link {
        case .some(let link): return link.rawValue
        case .none: return nil
        }
    }

    /// Detaches now: closes the link and the perf event.
    public consuming func close() {
        link?.close()
        perfEvent.close()
    }
}
