/// The text of the labels that come from a cgroup id (`cgroup`, `pod_uid`, `container_id`),
/// for one scrape: resolved once per id, escaped once, then copied into every line that
/// needs it.
struct CgroupLabelText: Sendable {
    struct Entry: Sendable {
        /// Escaped, for the flow lines.
        var path: [UInt8]
        var podUID: [UInt8]
        var containerID: [UInt8]
        /// As they are, for the lines the exposition writer escapes itself.
        var rawPath: String
        var workload: WorkloadLabels
    }

    private(set) var entries: [UInt64: Entry] = [:]
    /// Ids whose series are not shown: cgroups removed past the grace period, and a removed
    /// cgroup whose path a live one has taken again (two series would carry the same labels).
    private(set) var hidden: Set<UInt64> = []
    /// The longest escaped text of any entry, for the writer's line bound.
    private(set) var maximumLength = 0
    /// A path longer than this is cut (a cgroup path is at most PATH_MAX; escaping can double it).
    static let lengthLimit = 8192

    static let empty = CgroupLabelText()

    /// The labels of every id in `ids`, from `resolver` (nil: no cgroup2 mount, every label
    /// empty); `expired` ids are hidden.
    init(ids: some Sequence<UInt64>, resolver: inout CgroupPathResolver?, expired: Set<UInt64>) {
        var pathOwners: [String: UInt64] = [:]
        for id in ids where id != 0 && entries[id] == nil && !hidden.contains(id) {
            if expired.contains(id) {
                hidden.insert(id)
                continue
            }
            guard let path = resolver?.path(of: id) else { continue }
            if let owner = pathOwners[path] {
                // Keep the live one of the two.
                let vanished = resolver?.hasVanished(id) ?? false
                let hiddenID = vanished ? id : owner
                hidden.insert(hiddenID)
                entries[hiddenID] = nil
                if vanished { continue }
            }
            pathOwners[path] = id
            let labels = WorkloadLabels(cgroupPath: path)
            let entry = Entry(path: Self.text(path), podUID: Self.text(labels.podUID),
                              containerID: Self.text(labels.containerID), rawPath: path, workload: labels)
            entries[id] = entry
            maximumLength = max(maximumLength, entry.path.count, entry.podUID.count, entry.containerID.count)
        }
    }

    private init() {}

    private static func text(_ value: String) -> [UInt8] {
        let bytes = LabelEscaping.escaped(value, escapingQuotes: true)
        return bytes.count <= lengthLimit ? bytes : Array(bytes.prefix(lengthLimit))
    }

    @inline(__always)
    func isHidden(_ id: UInt64) -> Bool { !hidden.isEmpty && hidden.contains(id) }

    /// The label's text for `id`; empty for 0 and for ids no walk could resolve.
    @inline(__always)
    func text(_ label: FlowLabel, of id: UInt64) -> [UInt8] {
        guard let entry = entries[id] else { return [] }
        switch label {
        case .cgroup: return entry.path
        case .podUID: return entry.podUID
        case .containerID: return entry.containerID
        default: return []
        }
    }
}
