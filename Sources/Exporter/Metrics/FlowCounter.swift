import Synchronization

/// The flow table shared by the ring reader (writer) and scrapes (readers).
///
/// Design: one mutex around the whole table.
/// - The writer takes it once per batch of samples (`recordBatch`), so the per-event cost is the
///   decode, one hash probe and one increment; locking is amortised over the batch. Keep a batch
///   to a ring drain of at most a few thousand samples (well under a millisecond at the
///   measured rate), so a scrape never waits long.
/// - A scrape holds it only to copy the counts (one memcpy, 16 bytes a series: about 0.2 ms at
///   100k series) and the series count. Keys are not copied: they are append-only and read in
///   place (`FlowKeyStore`). Label text, sorting and formatting happen after the lock is
///   released, on data nobody writes any more.
/// - Because every update and the copy happen under the same lock, a scrape sees each series
///   (and the self-metrics) either entirely before or entirely after an event: never half.
/// Sharded or lock-free tables would remove the short waits but make "never half-updated"
/// harder to argue; with one writer thread and scrapes every few seconds the lock is
/// uncontended almost always, and an uncontended `Mutex` is one atomic exchange.
final class FlowCounter: Sendable {
    private let table: Mutex<FlowTable>
    let selection: FlowLabelSelection
    let maximumSeries: Int

    init(selection: FlowLabelSelection = .default, maximumSeries: Int = 10_000) {
        self.selection = selection
        self.maximumSeries = maximumSeries
        table = Mutex(FlowTable(selection: selection, maximumSeries: maximumSeries))
    }

    /// Decodes and counts one raw ring sample (takes the lock once).
    func record(sample: UnsafeRawBufferPointer) {
        table.withLock { $0.record(sample: sample) }
    }

    /// Runs `body` with the table locked: for counting a whole ring drain under one lock.
    /// `body` must not block (no I/O, no waiting) and should bound how many samples it records.
    func recordBatch(_ body: (inout FlowTable) -> Void) {
        table.withLock { table in body(&table) }
    }

    /// A consistent copy for a scrape; see `FlowTable.snapshot`.
    func snapshot(into counts: inout [SeriesCounts]) -> FlowSnapshot {
        table.withLock { $0.snapshot(into: &counts) }
    }

    var seriesCount: Int { table.withLock { $0.seriesCount } }
    var approximateBytes: Int { table.withLock { $0.approximateBytes } }
}
