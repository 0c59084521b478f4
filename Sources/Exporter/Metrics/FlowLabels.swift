/// A label `tcp_retransmissions_total` can carry, in the order the exposition writes them.
enum FlowLabel: String, CaseIterable, Sendable {
    case ipVersion = "ip_version"
    case sourceIP = "src_ip"
    case sourcePort = "src_port"
    case destinationIP = "dst_ip"
    case destinationPort = "dst_port"
    case state = "state"
    /// Why it was sent again (`RetransmissionKind`); "" with the tracepoint/ programs.
    case kind = "kind"
    /// The socket's network namespace inode, decimal; "" when not known.
    case networkNamespace = "netns"
    /// The socket's cgroup v2 path relative to the cgroup2 root; "" when not known.
    case cgroup = "cgroup"
    /// The Kubernetes pod UID the cgroup path names (`WorkloadLabels`); "" where it names none.
    case podUID = "pod_uid"
    /// The container id (64 hex digits) the cgroup path names; "" where it names none.
    case containerID = "container_id"

    /// Labels whose value comes from the cgroup id, resolved to a path at scrape time.
    var isFromCgroup: Bool { self == .cgroup || self == .podUID || self == .containerID }
}

/// The labels chosen with `--metrics.labels`, always in `FlowLabel.allCases` order so the
/// output does not depend on how the flag was spelled.
struct FlowLabelSelection: Sendable, Equatable, CustomStringConvertible {
    let labels: [FlowLabel]

    /// The original exporter's five labels.
    static let `default` = FlowLabelSelection(
        uncheckedLabels: [.ipVersion, .sourceIP, .sourcePort, .destinationIP, .destinationPort])

    private init(uncheckedLabels: [FlowLabel]) {
        labels = FlowLabel.allCases.filter(uncheckedLabels.contains)
    }

    /// Parses `ip_version,src_ip,...`: at least one label, none unknown or repeated.
    init(parsing text: String) throws(FlowLabelSelectionError) {
        var chosen: [FlowLabel] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingASCIISpaces()
            guard !name.isEmpty else { throw .emptyName(text) }
            guard let label = FlowLabel(rawValue: name) else { throw .unknown(name) }
            guard !chosen.contains(label) else { throw .repeated(name) }
            chosen.append(label)
        }
        self.init(uncheckedLabels: chosen)
    }

    func contains(_ label: FlowLabel) -> Bool { labels.contains(label) }

    var description: String { labels.map(\.rawValue).joined(separator: ",") }
}

enum FlowLabelSelectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyName(String)
    case unknown(String)
    case repeated(String)

    private static let choices = FlowLabel.allCases.map(\.rawValue).joined(separator: ", ")

    var description: String {
        switch self {
        case .emptyName(let text):
            "--metrics.labels '\(text)' has an empty label name; give a comma-separated list of \(Self.choices)"
        case .unknown(let name):
            "--metrics.labels: unknown label '\(name)'; choose from \(Self.choices)"
        case .repeated(let name):
            "--metrics.labels: label '\(name)' is listed twice"
        }
    }
}

extension Substring {
    fileprivate func trimmingASCIISpaces() -> String {
        var slice = self[...]
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
