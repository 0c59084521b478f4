/// The exposition order of the flow series, kept between scrapes.
///
/// Series only ever get appended, so each scrape sorts just the series created since the last
/// one and merges them into the kept order: O(n + k log k) instead of sorting all n series
/// (a full sort of 100k keys each scrape would alone take most of the render budget).
///
/// The new series are sorted by their `FlowOrderPrefix`, kept next to the series number: the
/// comparisons read two integers from one contiguous array instead of two 56-byte keys from
/// anywhere in the key store (a first scrape at 100k series spent a third of its instructions
/// in that sort). Only keys whose prefixes tie are compared in full.
struct FlowSeriesOrder: Sendable {
    /// Series numbers in `FlowKey` order.
    private(set) var order: [UInt32] = []

    private struct Entry {
        var prefix: FlowOrderPrefix
        var series: UInt32
    }

    /// Takes in the series a snapshot has beyond those already known.
    mutating func absorb(_ snapshot: FlowSnapshot) {
        let start = order.count
        guard snapshot.seriesCount > start else { return }
        let keys = snapshot.keys
        var entries: [Entry] = []
        entries.reserveCapacity(snapshot.seriesCount - start)
        for series in start..<snapshot.seriesCount {
            entries.append(Entry(prefix: FlowOrderPrefix(keys[series]), series: UInt32(series)))
        }
        entries.sort { lhs, rhs in
            lhs.prefix != rhs.prefix ? lhs.prefix < rhs.prefix : keys[Int(lhs.series)] < keys[Int(rhs.series)]
        }
        let fresh = entries.map(\.series)
        guard !order.isEmpty else {
            order = fresh
            return
        }
        var result: [UInt32] = []
        result.reserveCapacity(order.count + fresh.count)
        var oldIndex = 0
        var freshIndex = 0
        while oldIndex < order.count, freshIndex < fresh.count {
            if keys[Int(fresh[freshIndex])] < keys[Int(order[oldIndex])] {
                result.append(fresh[freshIndex])
                freshIndex += 1
            } else {
                result.append(order[oldIndex])
                oldIndex += 1
            }
        }
        result.append(contentsOf: order[oldIndex...])
        result.append(contentsOf: fresh[freshIndex...])
        order = result
    }
}
