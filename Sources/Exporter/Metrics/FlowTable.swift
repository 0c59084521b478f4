/// The counts of one series.
struct SeriesCounts: Sendable, Equatable {
    /// Successful retransmissions (err == 0): `tcp_retransmissions_total`.
    var retransmissions: UInt64 = 0
    /// Failed retransmissions (err != 0): `tcp_retransmission_failures_total`.
    var failures: UInt64 = 0
    /// Segments of the successful ones: `tcp_retransmitted_segments_total`.
    var segments: UInt64 = 0

    @inline(__always)
    mutating func add(_ event: RetransEvent) {
        if event.error != 0 {
            failures &+= 1
        } else {
            retransmissions &+= 1
            segments &+= UInt64(event.segments)
        }
    }
}

/// The write side of the flow metrics: decodes samples and counts them per label set.
///
/// Owned by whoever holds the lock around it (the perf poller's, in `run`). Series
/// are append-only: a series number, once given, names the same key for the life of the table,
/// which lets a scrape copy only the keys it has not seen yet.
struct FlowTable: Sendable {
    let mask: FlowKeyMask
    /// `--metrics.max-series`: flow series beyond this go to the overflow series.
    let maximumSeries: Int

    /// Key of each series, by series number (shared with scrapes, see `FlowKeyStore`).
    let keyStore: FlowKeyStore
    /// Counts of each series, by series number.
    private(set) var counts: [SeriesCounts] = []
    private var index: FlowIndex

    /// Segments per cgroup, network namespace and kind, whatever the flow labels.
    var workloads: WorkloadTable
    /// Events whose label set was new while `maximumSeries` series existed.
    private(set) var overflow = SeriesCounts()
    /// Events counted in `overflow` (each event once, successful or failed).
    private(set) var seriesDropped: UInt64 = 0
    /// Every sample handed to `record(sample:)`, decodable or not.
    private(set) var eventsReceived: UInt64 = 0
    /// Samples that could not be decoded (too short, unknown family).
    private(set) var decodeErrors: UInt64 = 0

    /// `maximumSeries`: 0...`MetricsConfiguration.seriesLimit`, as `--metrics.max-series` accepts.
    init(selection: FlowLabelSelection, maximumSeries: Int) {
        mask = FlowKeyMask(selection)
        self.maximumSeries = maximumSeries
        index = FlowIndex(minimumCapacity: min(self.maximumSeries, 1024))
        keyStore = FlowKeyStore(capacity: self.maximumSeries)
        workloads = WorkloadTable(maximumSeries: maximumSeries)
        // Reserved once so the array never doubles past the cap (pages are touched only as
        // series arrive).
        counts.reserveCapacity(self.maximumSeries)
    }

    var seriesCount: Int { counts.count }

    /// Keys of all series so far (the writer's view).
    var keys: UnsafeBufferPointer<FlowKey> { keyStore.keys(count: counts.count) }

    /// Decodes one ring sample and counts it. A sample that does not decode is counted as
    /// received and as a decode error, nothing else.
    @inline(__always)
    mutating func record(sample: UnsafeRawBufferPointer) {
        eventsReceived &+= 1
        do {
            count(try RetransEvent.decode(sample))
        } catch {
            decodeErrors &+= 1
        }
    }

    /// Counts one decoded event in its series (or the overflow series), and its segments in
    /// its workload's.
    @inline(__always)
    mutating func count(_ event: RetransEvent) {
        if event.segments != 0 && event.error == 0 { workloads.count(event) }
        let key = FlowKey(event, mask: mask)
        guard let series = self.series(for: key) else {
            overflow.add(event)
            seriesDropped &+= 1
            return
        }
        counts.withUnsafeMutableBufferPointer { counts in counts[series].add(event) }
    }

    /// The series of `key`, created if there is room; nil when the table is full.
    @inline(__always)
    private mutating func series(for key: FlowKey) -> Int? {
        let hash = FlowIndex.hash(key)
        let found = index.find(key, hash: hash, keys: keys)
        if let series = found.series { return series }
        let series = counts.count
        guard series < maximumSeries else { return nil }
        keyStore.initialize(series, to: key)
        counts.append(SeriesCounts())
        index.insert(series: series, at: found.slot, keys: keys)
        return series
    }

    /// A consistent copy for one scrape: every count (copied into `counts`, whose storage the
    /// scrape side reuses) and the self-metrics. O(series) memcpy, no allocation after the first.
    func snapshot(into counts: inout [SeriesCounts]) -> FlowSnapshot {
        counts.removeAll(keepingCapacity: true)
        counts.append(contentsOf: self.counts)
        return FlowSnapshot(
            seriesCount: self.counts.count,
            keyStore: keyStore,
            overflow: overflow,
            seriesDropped: seriesDropped,
            eventsReceived: eventsReceived,
            decodeErrors: decodeErrors,
            workloads: workloads.snapshot())
    }

    /// Bytes the table's arrays occupy for the current series, for the benchmark's figures.
    var approximateBytes: Int {
        counts.count * (MemoryLayout<FlowKey>.stride + MemoryLayout<SeriesCounts>.stride) + index.slotBytes
    }
}

/// What a scrape takes from the table under the lock (the counts travel separately).
struct FlowSnapshot: Sendable {
    /// Series `0..<seriesCount` exist; their keys are readable in `keyStore`.
    var seriesCount: Int
    var keyStore: FlowKeyStore
    var overflow: SeriesCounts
    var seriesDropped: UInt64
    var eventsReceived: UInt64
    var decodeErrors: UInt64
    var workloads: WorkloadSnapshot = WorkloadSnapshot()

    var keys: UnsafeBufferPointer<FlowKey> { keyStore.keys(count: seriesCount) }
}
