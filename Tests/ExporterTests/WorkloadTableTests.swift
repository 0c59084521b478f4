import Foundation
import Synchronization
import Testing
@testable import Exporter

/// The per-workload family and the cgroup-derived labels, with a hand-made cgroup hierarchy
/// whose walks the test controls: the cap, the expiry of removed cgroups (series shown during
/// the grace period, then gone from the output and from memory), a path taken again by a new
/// cgroup, and the tracepoint fallback's events.
@Suite struct WorkloadTableTests {
    /// A cgroup hierarchy the test edits between walks.
    final class Hierarchy: Sendable {
        let paths = Mutex<[UInt64: String]>([1: "/"])
        func set(_ id: UInt64, _ path: String?) { paths.withLock { $0[id] = path } }
        var resolver: CgroupPathResolver {
            CgroupPathResolver(configuration: .init(minimumRescanInterval: .zero, gracePeriod: .milliseconds(300)),
                               scanner: { [self] in CgroupScan(paths: paths.withLock { $0 }) })
        }
    }

    static func event(port: UInt16, segments: UInt16 = 1, kind: RetransmissionKind = .fast, cgroup: UInt64,
                      netns: UInt32 = 4_026_531_840, error: Int32 = 0) -> [UInt8] {
        EventBytes.make(source: [10, 203, 9, 1], destination: [10, 203, 9, 2], sourcePort: port, destinationPort: 7000,
                        error: error, segments: segments, networkNamespace: netns, kind: kind.rawValue, cgroupID: cgroup)
    }

    static func state(_ hierarchy: Hierarchy, labels: String = "src_port,cgroup", maximumSeries: Int = 100) throws
        -> ExporterState {
        let configuration = MetricsConfiguration(labels: try FlowLabelSelection(parsing: labels), maximumSeries: maximumSeries)
        return ExporterState(configuration: configuration, buildInfo: BuildInfo(version: "test"),
                             source: FlowTableSource(configuration: configuration), cgroupResolver: hierarchy.resolver)
    }

    static func scrape(_ state: ExporterState, _ events: [[UInt8]] = []) -> ScrapedMetrics {
        EventBytes.record(events, into: state)
        var body = state.scrape()
        return ScrapedMetrics(text: body.readString(length: body.readableBytes) ?? "")
    }

    @Test func segmentsAreCountedPerCgroupNamespaceAndKindOnlyForSuccesses() throws {
        let hierarchy = Hierarchy()
        hierarchy.set(10, "/system.slice/a.service")
        let state = try Self.state(hierarchy)
        let metrics = Self.scrape(state, [
            Self.event(port: 1, segments: 3, cgroup: 10), Self.event(port: 1, segments: 4, cgroup: 10),
            Self.event(port: 2, segments: 5, kind: .timeout, cgroup: 10),
            Self.event(port: 2, segments: 9, kind: .timeout, cgroup: 10, error: -16),  // failed: no segments
            Self.event(port: 3, segments: 2, cgroup: 10, netns: 7),
            Self.event(port: 4, segments: 0, kind: .unknown, cgroup: 0, netns: 0),    // tracepoint fallback
        ])
        let family = metrics.series("tcp_retransmitted_segments_by_cgroup_total")
        let byLabels = Dictionary(uniqueKeysWithValues: family.map {
            ("\($0.labels["cgroup"] ?? "?")|\($0.labels["netns"] ?? "?")|\($0.labels["kind"] ?? "?")", $0.value) })
        #expect(byLabels == ["/system.slice/a.service|4026531840|fast": 7, "/system.slice/a.service|4026531840|timeout": 5,
                             "/system.slice/a.service|7|fast": 2])
        #expect(metrics.sum("tcp_retransmitted_segments_total") == 14)
        #expect(metrics.sum("tcp_retransmissions_total") == 5)
        #expect(metrics.sum("tcp_retransmission_failures_total") == 1)
        // The fallback's event counts as a retransmission with an empty cgroup, and has no segments.
        #expect(metrics.series("tcp_retransmissions_total").contains { $0.labels["src_port"] == "4" && $0.labels["cgroup"] == "" })
    }

    @Test func aRemovedCgroupIsShownForItsGracePeriodThenForgotten() throws {
        let hierarchy = Hierarchy()
        hierarchy.set(20, "/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice")
        hierarchy.set(21, "/system.slice/b.service")
        let state = try Self.state(hierarchy)
        var metrics = Self.scrape(state, [Self.event(port: 1, cgroup: 20), Self.event(port: 2, cgroup: 21)])
        #expect(metrics.series("tcp_retransmitted_segments_by_cgroup_total").count == 2)
        #expect(metrics.series("tcp_retransmitted_segments_by_cgroup_total")
            .contains { $0.labels["pod_uid"] == "11111111-2222-3333-4444-555555555555" })

        hierarchy.set(20, nil)  // the pod is gone
        metrics = Self.scrape(state)
        #expect(metrics.series("tcp_retransmitted_segments_by_cgroup_total").count == 2, "still in its grace period")
        #expect(metrics.series("tcp_retransmissions_total").count == 2)
        usleep(400_000)
        _ = Self.scrape(state)  // the scrape on which it expires
        metrics = Self.scrape(state)
        #expect(metrics.series("tcp_retransmitted_segments_by_cgroup_total").map { $0.labels["cgroup"] }
                == ["/system.slice/b.service"])
        #expect(metrics.series("tcp_retransmissions_total").map { $0.labels["cgroup"] } == ["/system.slice/b.service"])
        // Forgotten in memory too, not just hidden.
        let source = try #require(state.source as? FlowTableSource)
        #expect(source.withTable { $0.workloads.keys.map(\.cgroupID) } == [21])
    }

    @Test func aPathTakenAgainShowsOnlyTheLiveCgroup() throws {
        let hierarchy = Hierarchy()
        hierarchy.set(30, "/system.slice/c.service")
        let state = try Self.state(hierarchy)
        _ = Self.scrape(state, [Self.event(port: 1, segments: 2, cgroup: 30)])
        // The service restarts: same path, new cgroup id.
        hierarchy.set(30, nil)
        hierarchy.set(31, "/system.slice/c.service")
        let metrics = Self.scrape(state, [Self.event(port: 1, segments: 5, cgroup: 31)])
        let family = metrics.series("tcp_retransmitted_segments_by_cgroup_total")
        #expect(family.count == 1 && family.first?.value == 5, "\(family.map(\.labels)) \(family.map(\.value))")
        let flows = metrics.series("tcp_retransmissions_total")
        #expect(flows.count == 1, "one series per label set: \(flows.map(\.labels))")
    }

    @Test func theFamilyIsCappedWithAnOverflowSeries() throws {
        let hierarchy = Hierarchy()
        for id in UInt64(40)..<45 { hierarchy.set(id, "/w\(id)") }
        let state = try Self.state(hierarchy, maximumSeries: 3)
        let metrics = Self.scrape(state, (UInt64(40)..<45).map { Self.event(port: 1, segments: 2, cgroup: $0) })
        let family = metrics.series("tcp_retransmitted_segments_by_cgroup_total")
        #expect(family.filter { $0.labels["cgroup"] != "overflow" }.count == 3)
        #expect(family.first { $0.labels["cgroup"] == "overflow" }?.value == 4)
        #expect(family.reduce(0) { $0 + $1.value } == 10)
    }
}
