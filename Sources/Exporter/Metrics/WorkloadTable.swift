/// Which workload a retransmitted segment belongs to, and why it was sent again: the key of
/// `tcp_retransmitted_segments_by_cgroup_total`, the family that attributes every segment to
/// its workload without per-flow cardinality.
struct WorkloadKey: Sendable, Hashable, Comparable {
    var cgroupID: UInt64
    var networkNamespace: UInt32
    var kind: RetransmissionKind

    static func < (lhs: WorkloadKey, rhs: WorkloadKey) -> Bool {
        (lhs.cgroupID, lhs.networkNamespace, lhs.kind.rawValue) < (rhs.cgroupID, rhs.networkNamespace, rhs.kind.rawValue)
    }
}

/// Segments per workload key. Unlike the flow series, these are removed when their cgroup is
/// gone (after the resolver's grace period), so pod churn does not grow memory; at most
/// `maximumSeries` keys, the rest counted apart as overflow.
struct WorkloadTable: Sendable {
    let maximumSeries: Int
    private(set) var segments: [WorkloadKey: UInt64] = [:]
    /// Segments whose key was new while `maximumSeries` keys existed.
    private(set) var overflowSegments: UInt64 = 0

    init(maximumSeries: Int) {
        self.maximumSeries = maximumSeries
    }

    @inline(__always)
    mutating func count(_ event: RetransEvent) {
        let key = WorkloadKey(cgroupID: event.cgroupID, networkNamespace: event.networkNamespace, kind: event.kind)
        let added = UInt64(event.segments)
        if let index = segments.index(forKey: key) {
            segments.values[index] &+= added
        } else if segments.count < maximumSeries {
            segments[key] = added
        } else {
            overflowSegments &+= added
        }
    }

    /// Drops the keys of cgroups that no longer exist.
    mutating func forget(cgroups: Set<UInt64>) {
        guard !cgroups.isEmpty else { return }
        segments = segments.filter { !cgroups.contains($0.key.cgroupID) }
    }

    func snapshot() -> WorkloadSnapshot {
        WorkloadSnapshot(segments: segments, overflowSegments: overflowSegments)
    }
}

/// What a scrape takes of the workload table (a copy: it is small).
struct WorkloadSnapshot: Sendable {
    var segments: [WorkloadKey: UInt64] = [:]
    var overflowSegments: UInt64 = 0
}
