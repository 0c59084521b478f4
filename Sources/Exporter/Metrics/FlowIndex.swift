/// Open-addressing hash index from `FlowKey` to series number, for the event thread's hot path.
///
/// Slots hold `series + 1` (0 = empty) and the keys stay in the table's series array, so the
/// index costs 4 bytes a slot (about 1 MiB at 100k series) instead of a dictionary's copy of
/// every 40-byte key. Linear probing, load factor at most 1/2, never shrinks (series are never
/// removed). Hashing uses the standard library's per-process randomly seeded `Hasher`, so
/// remote peers cannot choose ports and addresses that collide on purpose.
struct FlowIndex: Sendable {
    private var slots: [UInt32]
    private var mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int = 1024) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        slots = [UInt32](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    static func hash(_ key: FlowKey) -> Int {
        var hasher = Hasher()
        key.hash(into: &hasher)
        return hasher.finalize()
    }

    /// The series of `key`, or the slot where it would be inserted.
    @inline(__always)
    func find(_ key: FlowKey, hash: Int, keys: UnsafeBufferPointer<FlowKey>) -> (series: Int?, slot: Int) {
        var slot = hash & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return (nil, slot) }
            if keys[entry - 1] == key { return (entry - 1, slot) }
            slot = (slot + 1) & mask
        }
    }

    /// Records `series` at `slot` (from a `find` that missed), growing when half full.
    mutating func insert(series: Int, at slot: Int, keys: UnsafeBufferPointer<FlowKey>) {
        slots[slot] = UInt32(truncatingIfNeeded: series + 1)
        count += 1
        if count * 2 > slots.count { grow(keys: keys) }
    }

    private mutating func grow(keys: UnsafeBufferPointer<FlowKey>) {
        let old = slots
        slots = [UInt32](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        for entry in old where entry != 0 {
            var slot = Self.hash(keys[Int(entry) - 1]) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = entry
        }
    }

    /// Bytes held by the slots, for the benchmark's memory figures.
    var slotBytes: Int { slots.count * MemoryLayout<UInt32>.stride }
}
