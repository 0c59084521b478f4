#if canImport(Glibc)
import Glibc
#endif
import ELFReader

/// A BTF-typed program (`tp_btf/`, `fentry/`, `fexit/`) attached where its
/// `attach_btf_id` says. Closing it (or dropping it) detaches the program.
public struct TracingAttachment: ~Copyable, Sendable {
    public enum Method: String, Sendable, Equatable {
        /// `BPF_LINK_CREATE` with the program's attach type (Linux 5.8+).
        case link = "tracing-link"
        /// `BPF_RAW_TRACEPOINT_OPEN` without a name (Linux 5.5+).
        case rawTracepointOpen = "raw-tracepoint-open"
    }

    public let attach: TracingAttach
    public let target: String
    public let method: Method
    public let link: FileDescriptor

    /// A link first; the older raw-tracepoint call where the kernel has no tracing links.
    public static func attach(programFD: Int32, _ attach: TracingAttach, target: String,
                              syscalls: Syscalls = .kernel) throws -> TracingAttachment {
        try withContext("attach to \(attach.sectionPrefix) \(target)") {
            do {
                let link = try syscalls.createTracingLink(programFD: programFD, attachType: attach.rawValue)
                return TracingAttachment(attach: attach, target: target, method: .link, link: link)
            } catch let error as SyscallError where error.errno == EINVAL || error.errno == EOPNOTSUPP {
                let link = try syscalls.openRawTracepoint(programFD: programFD)
                return TracingAttachment(attach: attach, target: target, method: .rawTracepointOpen, link: link)
            }
        }
    }

    public consuming func close() {
        link.close()
    }
}

/// Whichever way a program is attached; closing detaches it.
public enum ProgramAttachment: ~Copyable, Sendable {
    case tracepoint(TracepointAttachment)
    case tracing(TracingAttachment)

    /// e.g. `tracepoint tcp/tcp_retransmit_skb via perf-link`, `tp_btf tcp_retransmit_skb via tracing-link`.
    public var description: String {
        switch self {
        case .tracepoint(let attachment):
            return "tracepoint \(attachment.category)/\(attachment.name) via \(attachment.method.rawValue)"
        case .tracing(let attachment):
            return "\(attachment.attach.sectionPrefix) \(attachment.target) via \(attachment.method.rawValue)"
        }
    }

    public consuming func close() {
        switch consume self {
        case .tracepoint(let attachment): attachment.close()
        case .tracing(let attachment): attachment.close()
        }
    }
}
