/// The scrape side's copy of the flow keys and their exposition order.
///
/// Series only ever get appended, so each scrape sorts just the series created since the last
/// one and merges them into the kept order: O(n + k log k) instead of sorting all n series
/// (a full sort of 100k keys each scrape would alone take most of the render budget).
struct FlowSeriesOrder: Sendable {
    /// Key of each series, by series number (mirrors `FlowTable.keys`).
    private(set) var keys: [FlowKey] = []
    /// Series numbers in `FlowKey` order.
    private(set) var order: [UInt32] = []

    var knownSeries: Int { keys.count }

    /// Takes in the keys a snapshot carries beyond those already known.
    mutating func absorb(_ snapshot: FlowSnapshot) {
        guard snapshot.firstNewSeries == keys.count, !snapshot.newKeys.isEmpty else { return }
        let start = keys.count
        keys.append(contentsOf: snapshot.newKeys)
        var fresh = Array(UInt32(start)..<UInt32(keys.count))
        keys.withUnsafeBufferPointer { keys in
            fresh.sort { keys[Int($0)] < keys[Int($1)] }
        }
        order = merged(order, fresh)
    }

    private func merged(_ old: [UInt32], _ fresh: [UInt32]) -> [UInt32] {
        guard !old.isEmpty else { return fresh }
        var result: [UInt32] = []
        result.reserveCapacity(old.count + fresh.count)
        keys.withUnsafeBufferPointer { keys in
            var oldIndex = 0
            var freshIndex = 0
            while oldIndex < old.count, freshIndex < fresh.count {
                if keys[Int(fresh[freshIndex])] < keys[Int(old[oldIndex])] {
                    result.append(fresh[freshIndex])
                    freshIndex += 1
                } else {
                    result.append(old[oldIndex])
                    oldIndex += 1
                }
            }
            result.append(contentsOf: old[oldIndex...])
            result.append(contentsOf: fresh[freshIndex...])
        }
        return result
    }
}
