/// Append-only storage of series keys, read by scrapes without copying or locking.
///
/// One allocation of `capacity` keys, made up front and never moved (untouched pages of a
/// large allocation are not resident, so an unused cap costs address space, not memory).
///
/// Why unlocked reads are safe: the writer initialises entry `i` while holding the
/// table's lock, *before* the table's series count becomes `i + 1`; a scrape learns the
/// count under that same lock, so every entry below it was written before the scrape acquired
/// the lock; and entries are never written again. A scrape holding the store therefore reads
/// immutable memory. `FlowKey` is a trivial type: nothing to deinitialise.
final class FlowKeyStore: @unchecked Sendable {
    private let base: UnsafeMutablePointer<FlowKey>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        base = UnsafeMutablePointer<FlowKey>.allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// Writer only, under the lock, for `index` == current count < capacity.
    @inline(__always)
    func initialize(_ index: Int, to key: FlowKey) {
        precondition(index >= 0 && index < capacity, "FlowKeyStore index out of range")
        (base + index).initialize(to: key)
    }

    /// Entries `0..<count`, where `count` is a series count read under the lock.
    @inline(__always)
    func keys(count: Int) -> UnsafeBufferPointer<FlowKey> {
        UnsafeBufferPointer(start: base, count: min(max(0, count), capacity))
    }
}
