extension ProgramKind {
    /// The program type and attach point a section name asks for, using
    /// libbpf's spellings: `tracepoint/<category>/<name>` or `tp/<category>/<name>`;
    /// `tp_btf/<name>`, `fentry/<function>`, `fexit/<function>`, `iter/<target>`.
    public init(sectionName: String) {
        let parts = sectionName.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "tracepoint" || parts[0] == "tp", !parts[1].isEmpty, !parts[2].isEmpty {
            self = .tracepoint(category: String(parts[1]), name: String(parts[2]))
        } else if parts.count == 2, !parts[1].isEmpty,
                  let attach = [TracingAttach.rawTracepoint, .functionEntry, .functionExit, .iterator]
                    .first(where: { $0.sectionPrefix == parts[0] }) {
            self = .tracing(attach, target: String(parts[1]))
        } else {
            self = .unknown
        }
    }

    /// A short human form of the attach point, e.g. `tracepoint tcp:tcp_retransmit_skb`.
    public var attachPointDescription: String {
        switch self {
        case .tracepoint(let category, let name): return "tracepoint \(category):\(name)"
        case .tracing(let attach, let target): return "\(attach.sectionPrefix) \(target)"
        case .unknown: return "unknown"
        }
    }
}
