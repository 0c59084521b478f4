/// Which workload a retransmitted segment belongs to, and why it was sent again: the key of
/// `tcp_retransmitted_segments_by_cgroup_total`, the family that attributes every segment to
/// its workload without per-flow cardinality.
struct WorkloadKey: Sendable, Hashable, Comparable {
    var cgroupID: UInt64
    var networkNamespace: UInt32
    var kind: RetransmissionKind

    /// The three fields in one word (as `FlowKey.attributionWord`).
    @inline(__always)
    var word: UInt64 {
        cgroupID ^ ((UInt64(networkNamespace) << 8 | UInt64(kind.rawValue)) &* 0x9E37_79B9_7F4A_7C15)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(word)
    }

    static func < (lhs: WorkloadKey, rhs: WorkloadKey) -> Bool {
        (lhs.cgroupID, lhs.networkNamespace, lhs.kind.rawValue) < (rhs.cgroupID, rhs.networkNamespace, rhs.kind.rawValue)
    }
}

/// Segments per workload key. Unlike the flow series, these are removed when their cgroup is
/// gone (after the resolver's grace period), so pod churn does not grow memory; at most
/// `maximumSeries` keys, the rest counted apart as overflow.
struct WorkloadTable: Sendable {
    let maximumSeries: Int
    /// Keys and their segment counts, side by side; `positions` finds a key's place.
    private(set) var keys: [WorkloadKey] = []
    private(set) var segments: [UInt64] = []
    private var positions: [WorkloadKey: Int] = [:]
    /// Recently seen keys and their places, by a multiplicative hash of the key: a host has few
    /// workloads retransmitting at a time, so most events skip SipHash (which the dictionary
    /// needs for nothing here: cgroup ids, namespace inodes and kinds are the kernel's, no
    /// peer can choose them). Places are array offsets, valid until `forget` rebuilds.
    private var recent = [(key: WorkloadKey, position: Int)?](repeating: nil, count: 1 << recentBits)
    private static let recentBits = 6
    /// Segments whose key was new while `maximumSeries` keys existed.
    private(set) var overflowSegments: UInt64 = 0

    init(maximumSeries: Int) {
        self.maximumSeries = maximumSeries
    }

    @inline(__always)
    mutating func count(_ event: RetransEvent) {
        let key = WorkloadKey(cgroupID: event.cgroupID, networkNamespace: event.networkNamespace, kind: event.kind)
        let added = UInt64(event.segments)
        let slot = Int(truncatingIfNeeded: (key.word &* 0xFF51_AFD7_ED55_8CCD) >> (64 - Self.recentBits))
        if let seen = recent[slot], seen.key == key {
            segments[seen.position] &+= added
        } else if let position = positions[key] {
            segments[position] &+= added
            recent[slot] = (key, position)
        } else if keys.count < maximumSeries {
            positions[key] = keys.count
            recent[slot] = (key, keys.count)
            keys.append(key)
            segments.append(added)
        } else {
            overflowSegments &+= added
        }
    }

    /// Drops the keys of cgroups that no longer exist.
    mutating func forget(cgroups: Set<UInt64>) {
        guard !cgroups.isEmpty, keys.contains(where: { cgroups.contains($0.cgroupID) }) else { return }
        var keptKeys: [WorkloadKey] = []
        var keptSegments: [UInt64] = []
        for (key, count) in zip(keys, segments) where !cgroups.contains(key.cgroupID) {
            keptKeys.append(key)
            keptSegments.append(count)
        }
        keys = keptKeys
        segments = keptSegments
        positions = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($0.element, $0.offset) })
        recent = recent.map { _ in nil }
    }

    /// A copy for one scrape (copy-on-write: the arrays are copied when the next event lands).
    func snapshot() -> WorkloadSnapshot {
        WorkloadSnapshot(keys: keys, segments: segments, overflowSegments: overflowSegments)
    }
}

/// What a scrape takes of the workload table (a copy: it is small).
struct WorkloadSnapshot: Sendable {
    var keys: [WorkloadKey] = []
    var segments: [UInt64] = []
    var overflowSegments: UInt64 = 0
}
