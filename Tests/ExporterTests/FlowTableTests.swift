import Testing
@testable import Exporter

@Suite struct FlowTableTests {
    private func event(
        source: String = "10.203.0.1", sourcePort: UInt16 = 40_000,
        destination: String = "10.203.0.2", destinationPort: UInt16 = 7101,
        family: UInt16? = nil, state: Int32 = 1, error: Int32 = 0
    ) -> [UInt8] {
        let isV6 = source.contains(":")
        return EventBytes.make(
            family: family ?? (isV6 ? 10 : 2), source: EventBytes.address(source),
            destination: EventBytes.address(destination), sourcePort: sourcePort, destinationPort: destinationPort,
            state: state, error: error)
    }

    /// The counts by label text, read back through the key rendering.
    private func countsByFlow(_ table: FlowTable) -> [String: SeriesCounts] {
        var result: [String: SeriesCounts] = [:]
        for (key, counts) in zip(table.keys, table.counts) {
            result["\(key.source.ipVersion) \(key.source.text):\(key.sourcePort) \(key.destination.text):\(key.destinationPort) \(key.state)"] = counts
        }
        return result
    }

    @Test func countsEachFlowSeparately() {
        var table = FlowTable(selection: .default, maximumSeries: 100)
        for _ in 0..<3 { EventBytes.record(event(), into: &table) }
        EventBytes.record(event(sourcePort: 40_001), into: &table)
        EventBytes.record(event(source: "fd00:203::1", sourcePort: 5, destination: "fd00:203::2", destinationPort: 6), into: &table)
        #expect(countsByFlow(table) == [
            "4 10.203.0.1:40000 10.203.0.2:7101 0": SeriesCounts(retransmissions: 3),
            "4 10.203.0.1:40001 10.203.0.2:7101 0": SeriesCounts(retransmissions: 1),
            "6 fd00:203::1:5 fd00:203::2:6 0": SeriesCounts(retransmissions: 1),
        ])
        #expect(table.eventsReceived == 5)
        #expect(table.seriesDropped == 0)
    }

    @Test func failedRetransmissionsNeverReachTheMainCounter() {
        var table = FlowTable(selection: .default, maximumSeries: 100)
        EventBytes.record(event(error: -16), into: &table)
        EventBytes.record(event(error: -16), into: &table)
        EventBytes.record(event(), into: &table)
        EventBytes.record(event(sourcePort: 1, error: -11), into: &table)
        #expect(countsByFlow(table) == [
            "4 10.203.0.1:40000 10.203.0.2:7101 0": SeriesCounts(retransmissions: 1, failures: 2),
            "4 10.203.0.1:1 10.203.0.2:7101 0": SeriesCounts(retransmissions: 0, failures: 1),
        ])
    }

    @Test func v4MappedIPv6SocketsCountAsIPv4Flows() {
        var table = FlowTable(selection: .default, maximumSeries: 100)
        EventBytes.record(event(family: 2), into: &table)
        EventBytes.record(event(source: "::ffff:10.203.0.1", destination: "::ffff:10.203.0.2", family: 10), into: &table)
        #expect(countsByFlow(table) == ["4 10.203.0.1:40000 10.203.0.2:7101 0": SeriesCounts(retransmissions: 2)])
    }

    @Test func unchosenLabelsMergeFlows() throws {
        let selection = try FlowLabelSelection(parsing: "ip_version,dst_port,state")
        var table = FlowTable(selection: selection, maximumSeries: 100)
        EventBytes.record(event(sourcePort: 1), into: &table)
        EventBytes.record(event(source: "10.203.9.9", sourcePort: 2), into: &table)
        EventBytes.record(event(state: 2), into: &table)
        EventBytes.record(event(source: "fd00:203::1", sourcePort: 3, destination: "fd00:203::2"), into: &table)
        // Unchosen addresses keep only their family, ports and state are zeroed when unchosen.
        #expect(countsByFlow(table) == [
            "4 0.0.0.0:0 0.0.0.0:7101 1": SeriesCounts(retransmissions: 2),
            "4 0.0.0.0:0 0.0.0.0:7101 2": SeriesCounts(retransmissions: 1),
            "6 :::0 :::7101 1": SeriesCounts(retransmissions: 1),
        ])
    }

    @Test func capRoutesNewFlowsToOverflowAndCountsDroppedEvents() {
        var table = FlowTable(selection: .default, maximumSeries: 3)
        for port in UInt16(1)...3 { EventBytes.record(event(sourcePort: port), into: &table) }
        // Full: four events of two new flows (one failed) go to the overflow series...
        EventBytes.record(event(sourcePort: 4), into: &table)
        EventBytes.record(event(sourcePort: 4), into: &table)
        EventBytes.record(event(sourcePort: 5), into: &table)
        EventBytes.record(event(sourcePort: 5, error: -16), into: &table)
        // ...while flows already tracked keep counting in their own series.
        EventBytes.record(event(sourcePort: 2), into: &table)
        #expect(table.seriesCount == 3)
        #expect(table.overflow == SeriesCounts(retransmissions: 3, failures: 1))
        #expect(table.seriesDropped == 4)
        #expect(countsByFlow(table)["4 10.203.0.1:2 10.203.0.2:7101 0"] == SeriesCounts(retransmissions: 2))
        #expect(table.eventsReceived == 8)
    }

    @Test func aPortSweepStaysWithinTheCap() {
        var table = FlowTable(selection: .default, maximumSeries: 1000)
        for port in 0..<50_000 { EventBytes.record(event(sourcePort: UInt16(port)), into: &table) }
        #expect(table.seriesCount == 1000)
        #expect(table.seriesDropped == 49_000)
        #expect(table.overflow.retransmissions == 49_000)
        // Index and arrays bounded by the cap, not by the sweep.
        #expect(table.approximateBytes < 200_000)  // 50k tracked flows would need > 2.8 MB
    }

    @Test func snapshotCopiesCountsAndSharesKeys() {
        var table = FlowTable(selection: .default, maximumSeries: 100)
        for port in UInt16(1)...5 { EventBytes.record(event(sourcePort: port), into: &table) }
        var counts: [SeriesCounts] = []
        let first = table.snapshot(into: &counts)
        #expect(first.seriesCount == 5 && counts.count == 5)
        EventBytes.record(event(sourcePort: 6), into: &table)
        EventBytes.record(event(sourcePort: 1), into: &table)
        // The earlier snapshot still sees its own 5 series and their counts then.
        #expect(first.keys.map(\.sourcePort) == [1, 2, 3, 4, 5])
        #expect(counts[0] == SeriesCounts(retransmissions: 1))
        let second = table.snapshot(into: &counts)
        #expect(second.keys.map(\.sourcePort) == [1, 2, 3, 4, 5, 6])
        #expect(counts[0] == SeriesCounts(retransmissions: 2))
    }

    @Test func maximumSeriesIsBounded() throws {
        // The one check of the cap: the flag's parser (0 sends every event to the overflow series).
        for accepted in ["0", "10000000"] {
            #expect(throws: Never.self) { try RunCommand(ParsedArguments(["--metrics.max-series", accepted], for: RunCommand.spec)) }
        }
        for refused in ["-1", "10000001"] {
            #expect(throws: UsageError.self) { try RunCommand(ParsedArguments(["--metrics.max-series", refused], for: RunCommand.spec)) }
        }
        var table = FlowTable(selection: .default, maximumSeries: 0)
        EventBytes.record(event(), into: &table)
        #expect(table.seriesCount == 0 && table.overflow.retransmissions == 1 && table.seriesDropped == 1)
    }

    @Test func labelSelectionParsing() throws {
        #expect(try FlowLabelSelection(parsing: "dst_port, src_ip").labels == [.sourceIP, .destinationPort])
        #expect(FlowLabelSelection.default.description == "ip_version,src_ip,src_port,dst_ip,dst_port")
        #expect(throws: FlowLabelSelectionError.unknown("pid")) { try FlowLabelSelection(parsing: "src_ip,pid") }
        #expect(throws: FlowLabelSelectionError.repeated("state")) { try FlowLabelSelection(parsing: "state,state") }
        #expect(throws: FlowLabelSelectionError.emptyName("")) { try FlowLabelSelection(parsing: "") }
        #expect(throws: FlowLabelSelectionError.emptyName("src_ip,")) { try FlowLabelSelection(parsing: "src_ip,") }
        #expect(FlowLabelSelectionError.unknown("pid").description
            == "--metrics.labels: unknown label 'pid'; choose from ip_version, src_ip, src_port, dst_ip, dst_port, "
                + "state, kind, netns, cgroup, pod_uid, container_id")
        #expect(try FlowLabelSelection(parsing: "container_id,kind,src_port,netns,pod_uid,cgroup").labels
            == [.sourcePort, .kind, .networkNamespace, .cgroup, .podUID, .containerID])
    }
}
