/// The exposition order of the flow series, kept between scrapes.
///
/// Series only ever get appended, so each scrape sorts just the series created since the last
/// one and merges them into the kept order: O(n + k log k) instead of sorting all n series
/// (a full sort of 100k keys each scrape would alone take most of the render budget).
struct FlowSeriesOrder: Sendable {
    /// Series numbers in `FlowKey` order.
    private(set) var order: [UInt32] = []

    /// Takes in the series a snapshot has beyond those already known.
    mutating func absorb(_ snapshot: FlowSnapshot) {
        let start = order.count
        guard snapshot.seriesCount > start else { return }
        let keys = snapshot.keys
        var fresh = Array(UInt32(start)..<UInt32(snapshot.seriesCount))
        fresh.sort { keys[Int($0)] < keys[Int($1)] }
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
