/// cgroup v2 id -> path, for the `cgroup` label (and the `pod_uid` and `container_id` read
/// from the path).
///
/// The BPF program reports the socket's cgroup id (`kernfs_node.id`), which is the inode
/// number of the cgroup's directory. The resolver keeps the last walk of the hierarchy and
/// walks again on a miss, at most once per `minimumRescanInterval`, so a burst of events from
/// an unknown cgroup costs one walk, not one per event; an id a walk did not find (a dying
/// cgroup, removed while a socket still holds it) is not worth another walk for
/// `unknownRetryInterval`, so one such socket cannot make the resolver walk at every
/// interval. A cgroup that a walk no longer finds
/// keeps its path for `gracePeriod` (so its series keep their label while they are still
/// scraped, and a late event still resolves), then `refresh` reports it expired so that its
/// series can be dropped: pod churn does not grow memory.
///
/// Not thread-safe: one owner (the ring thread, or the scrape behind a lock).
struct CgroupPathResolver: Sendable {
    struct Configuration: Sendable, Equatable {
        /// Walks no more often than this, whatever misses.
        var minimumRescanInterval: Duration = .milliseconds(500)
        /// How long a removed cgroup keeps its path (Hubble uses one minute).
        var gracePeriod: Duration = .seconds(60)
        /// How long an id a walk did not find makes no further walk. A cgroup exists before
        /// any socket in it, so a walk after the event that misses it means it is gone.
        var unknownRetryInterval: Duration = .seconds(60)
        /// Most such ids remembered; beyond that they are forgotten at once (and may walk again).
        var unknownLimit = 4096
    }

    struct Statistics: Sendable, Equatable {
        var hits = 0
        /// Lookups of an id the last walk did not have.
        var misses = 0
        /// Misses that a walk made then found.
        var resolvedByRescan = 0
        /// Misses that found nothing: cgroup already gone (a dying cgroup still referenced by a
        /// socket), unreadable, or a walk not yet due.
        var unresolved = 0
        var scans = 0
        var scanFailures = 0
        var expired = 0
        var lastScanDuration: Duration = .zero
        /// Cgroups the last walk found, and whether it stopped at the tree's limit.
        var lastScanCount = 0
        var lastScanTruncated = false
        var lastScanUnreadable = 0
    }

    private struct Entry {
        var path: String
        /// When a walk first missed it; nil while it exists.
        var vanishedAt: ContinuousClock.Instant?
    }

    let configuration: Configuration
    private let scanner: @Sendable () throws(CgroupScanError) -> CgroupScan
    private var entries: [UInt64: Entry] = [:]
    /// Ids a walk did not find, and when.
    private var unknown: [UInt64: ContinuousClock.Instant] = [:]
    private var lastScanAt: ContinuousClock.Instant?
    private(set) var statistics = Statistics()
    /// Why the last walk failed, for one log line; nil after a walk that worked.
    private(set) var lastError: CgroupScanError?

    init(configuration: Configuration = Configuration(),
         scanner: @escaping @Sendable () throws(CgroupScanError) -> CgroupScan) {
        self.configuration = configuration
        self.scanner = scanner
    }

    init(tree: CgroupTree, configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, scanner: { () throws(CgroupScanError) in try tree.scan() })
    }

    /// Cgroups held: the live ones of the last walk plus the removed ones in their grace period.
    var count: Int { entries.count }
    /// Ids remembered as not found.
    var unknownCount: Int { unknown.count }

    /// The path of cgroup `id`, walking the hierarchy again on a miss if a walk is due.
    mutating func path(of id: UInt64, now: ContinuousClock.Instant = .now) -> String? {
        if let entry = entries[id] {
            statistics.hits += 1
            return entry.path
        }
        statistics.misses += 1
        if let path = walkForMiss(id, now: now) {
            statistics.resolvedByRescan += 1
            return path
        }
        statistics.unresolved += 1
        return nil
    }

    /// Whether the last walks no longer find cgroup `id` (it is in its grace period).
    func hasVanished(_ id: UInt64) -> Bool {
        entries[id]?.vanishedAt != nil
    }

    /// Walks for an id the cache lacks, unless a walk is not yet due or already missed it.
    private mutating func walkForMiss(_ id: UInt64, now: ContinuousClock.Instant) -> String? {
        if let since = unknown[id], now - since < configuration.unknownRetryInterval { return nil }
        guard isScanDue(now), rescan(now: now) else { return nil }
        if let entry = entries[id] { return entry.path }
        if unknown.count >= configuration.unknownLimit { unknown.removeAll() }
        unknown[id] = now
        return nil
    }

    /// Walks again if a walk is due, then forgets the cgroups removed more than `gracePeriod`
    /// ago and returns their ids (drop their series). Call it periodically, e.g. per scrape:
    /// without it a removed cgroup is only noticed on the next miss.
    mutating func refresh(now: ContinuousClock.Instant = .now) -> [UInt64] {
        if isScanDue(now) { rescan(now: now) }
        var expired: [UInt64] = []
        for (id, entry) in entries {
            if let vanishedAt = entry.vanishedAt, now - vanishedAt >= configuration.gracePeriod {
                expired.append(id)
            }
        }
        for id in expired { entries[id] = nil }
        unknown = unknown.filter { now - $0.value < configuration.unknownRetryInterval }
        statistics.expired += expired.count
        return expired.sorted()
    }

    private func isScanDue(_ now: ContinuousClock.Instant) -> Bool {
        guard let lastScanAt else { return true }
        return now - lastScanAt >= configuration.minimumRescanInterval
    }

    /// One walk; true when it worked. A failed walk changes nothing but the statistics: the
    /// cgroups known so far keep their paths.
    @discardableResult
    private mutating func rescan(now: ContinuousClock.Instant) -> Bool {
        lastScanAt = now
        statistics.scans += 1
        let clock = ContinuousClock()
        let started = clock.now
        let scan: CgroupScan
        do {
            scan = try scanner()
        } catch {
            statistics.scanFailures += 1
            lastError = error
            return false
        }
        lastError = nil
        statistics.lastScanDuration = clock.now - started
        statistics.lastScanCount = scan.paths.count
        statistics.lastScanTruncated = scan.truncated
        statistics.lastScanUnreadable = scan.unreadable
        for (id, path) in scan.paths {
            entries[id] = Entry(path: path, vanishedAt: nil)
            unknown[id] = nil
        }
        // A walk cut short at the tree's limit proves nothing about the cgroups it did not reach.
        guard !scan.truncated else { return true }
        for (id, entry) in entries where entry.vanishedAt == nil && scan.paths[id] == nil {
            entries[id]?.vanishedAt = now
        }
        return true
    }
}
