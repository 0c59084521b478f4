extension ProgramKind {
    /// The program type and attach point a section name asks for, using
    /// libbpf's spellings: `tracepoint/<category>/<name>` or `tp/<category>/<name>`.
    public init(sectionName: String) {
        let parts = sectionName.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "tracepoint" || parts[0] == "tp", !parts[1].isEmpty, !parts[2].isEmpty {
            self = .tracepoint(category: String(parts[1]), name: String(parts[2]))
        } else {
            self = .unknown
        }
    }

    /// A short human form of the attach point, e.g. `tracepoint tcp:tcp_retransmit_skb`.
    public var attachPointDescription: String {
        switch self {
        case .tracepoint(let category, let name): return "tracepoint \(category):\(name)"
        case .unknown: return "unknown"
        }
    }
}
