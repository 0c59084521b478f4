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
            if attach == .iterator {
                // An iterator has only the link: nothing to fall back to.
                let link = try syscalls.createTracingLink(programFD: programFD, attachType: attach.rawValue)
                return TracingAttachment(attach: attach, target: target, method: .link, link: link)
            }
            do {
                let link = try syscalls.createTracingLink(programFD: programFD, attachType: attach.rawValue)
                return TracingAttachment(attach: attach, target: target, method: .link, link: link)
            } catch let error as SyscallError where error.errno == EINVAL || error.errno == EOPNOTSUPP {
                let link = try syscalls.openRawTracepoint(programFD: programFD)
                return TracingAttachment(attach: attach, target: target, method: .rawTracepointOpen, link: link)
            }
        }
    }

    /// An iterator's output: one run over every object (tasks, ...), as the program wrote it.
    public func iterate(syscalls: Syscalls = .kernel) throws -> [UInt8] {
        guard attach == .iterator else {
            throw ContextError("iterate \(attach.sectionPrefix) \(target)",
                               ProgramSpecError(reason: "not an iterator program"))
        }
        return try withContext("run iterator \(target)") { try syscalls.readIterator(linkFD: link.rawValue) }
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

    /// The BPF link's descriptor of a tracing attachment (an iterator's is what
    /// `Syscalls.readIterator` reads); nil for a tracepoint's.
    public var tracingLinkFD: Int32? {
        switch self {
        case .tracepoint: return nil
        case .tracing(let attachment): return attachment.link.rawValue
        }
    }

    public consuming func close() {
        switch consume self {
        case .tracepoint(let attachment): attachment.close()
        case .tracing(let attachment): attachment.close()
        }
    }
}
