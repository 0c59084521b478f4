import KernelTestSupport
import Testing
@testable import Exporter

/// The prefix is only a shortcut: wherever two prefixes differ, they must order their keys as
/// `FlowKey.<` does.
@Suite struct FlowOrderPrefixTests {
    /// Keys that differ in few places and in every field, so that ties and near ties occur.
    private func randomKey(_ generator: inout SeededRandom) -> FlowKey {
        func pick<T>(_ choices: [T]) -> T { choices[Int(generator.next() % UInt64(choices.count))] }
        let addresses: [IPAddress] = [
            IPAddress(ipv4: 0x0ACB_0001), IPAddress(ipv4: 0x0ACB_0002), IPAddress(ipv4: 0xFFFF_FFFF), IPAddress(ipv4: 0),
            IPAddress(high: 0, low: 1), IPAddress(high: 0, low: 0xFFFF_FFFF_FFFF_FFFF), .zero,
            IPAddress(high: 0xFD00_0203_0000_0000, low: 1), IPAddress(high: 0xFD00_0203_0000_0000, low: 2),
            IPAddress(high: 1, low: 0), IPAddress(high: 0xFFFF_FFFF_FFFF_FFFF, low: 0xFFFF_FFFF_FFFF_FFFF),
        ]
        return FlowKey(
            source: pick(addresses), destination: pick(addresses), sourcePort: pick([0, 1, 40_000, 65_535]),
            destinationPort: pick([0, 7101, 65_535]), state: pick([Int32.min, -1, 0, 1, 12, Int32.max]),
            networkNamespace: pick([0, 4_026_531_840, UInt32.max]), kind: pick([.unknown, .fast, .other]),
            cgroupID: pick([0, 1, UInt64.max]))
    }

    @Test func prefixesThatDifferOrderKeysAsTheKeysDo() {
        var generator = SeededRandom(seed: 128)
        for _ in 0..<20_000 {
            let lhs = randomKey(&generator)
            let rhs = randomKey(&generator)
            let (left, right) = (FlowOrderPrefix(lhs), FlowOrderPrefix(rhs))
            if left < right { #expect(lhs < rhs, "\(lhs) \(rhs)") }
            if right < left { #expect(rhs < lhs, "\(lhs) \(rhs)") }
            if lhs == rhs { #expect(left == right) }
        }
    }

    /// Sorting many random keys the way a scrape does gives `FlowKey` order.
    @Test func aSortedSnapshotIsInKeyOrder() throws {
        var generator = SeededRandom(seed: 7)
        var table = FlowTable(selection: try FlowLabelSelection(parsing: "ip_version,src_ip,src_port,dst_ip,dst_port,state,kind,netns,cgroup"),
                              maximumSeries: 5000)
        var counts: [SeriesCounts] = []
        var order = FlowSeriesOrder()
        for round in 0..<3 {
            for _ in 0..<1000 {
                let key = randomKey(&generator)
                table.count(RetransEvent(
                    timestampNanoseconds: 0, state: key.state, error: 0, family: key.source.isIPv4Mapped ? 2 : 10,
                    sourcePort: key.sourcePort, destinationPort: key.destinationPort,
                    sourceAddress: key.source, destinationAddress: key.destination,
                    networkNamespace: key.networkNamespace, kind: key.kind, cgroupID: key.cgroupID))
            }
            let snapshot = table.snapshot(into: &counts)
            order.absorb(snapshot)
            let keys = order.order.map { snapshot.keys[Int($0)] }
            #expect(keys == keys.sorted(), "round \(round)")
            #expect(Set(order.order).count == snapshot.seriesCount)
        }
    }
}
