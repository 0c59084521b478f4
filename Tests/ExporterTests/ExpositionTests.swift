import Foundation
import NIOCore
import KernelTestSupport
import Testing
@testable import Exporter

/// The fixed scenario behind the golden files.
enum ExpositionFixture {
    static let kernel = KernelStatistics(
        samplesLostByCPU: [(cpu: 0, lost: 0), (cpu: 1, lost: 5)], bpfEmitted: 12, bpfEmitFailed: 5,
        programRunCount: 17, programRunTimeNanoseconds: 1_234_567_890, ringFramingErrors: 0)

    static func state(labels: String = "ip_version,src_ip,src_port,dst_ip,dst_port", maximumSeries: Int = 100,
                      version: String = "0.1.0", cgroups: Bool = true) throws -> ExporterState {
        let configuration = MetricsConfiguration(
            labels: try FlowLabelSelection(parsing: labels), maximumSeries: maximumSeries)
        return ExporterState(
            configuration: configuration, buildInfo: BuildInfo(version: version, swiftVersion: "6.3"),
            source: FlowTableSource(
                configuration: configuration, kernelStatistics: { kernel },
                tcpSegments: { TCPSegmentCounters(sent: 1030, retransmitted: 17) }),
            cgroupResolver: cgroups ? CgroupPathResolver(scanner: { CgroupScan(paths: cgroupPaths) }) : nil)
    }

    static let containerID = String(repeating: "0123456789abcdef", count: 4)
    /// The fixture's cgroup hierarchy: a Kubernetes pod's container, a systemd service, and a
    /// name that needs escaping. Id 104 is in no walk (a cgroup this exporter cannot see).
    static let cgroupPaths: [UInt64: String] = [
        1: "/",
        101: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8a2b6c1e_0f3d_4b5a_9c7e_112233445566.slice/cri-containerd-\(containerID).scope",
        102: "/system.slice/nginx.service",
        103: "/odd\"name\\x",
    ]

    /// Events in arrival order: several flows of both families, a v4-mapped IPv6 socket,
    /// failures, and one short record.
    static var events: [[UInt8]] {
        // Segments, namespace, kind and cgroup as the tp_btf programs report them.
        func v4(_ s: [UInt8], _ sp: UInt16, _ d: [UInt8], _ dp: UInt16, state: Int32 = 1, error: Int32 = 0,
                segments: UInt16 = 2, kind: Exporter.RetransmissionKind = .fast, cgroup: UInt64 = 101) -> [UInt8] {
            EventBytes.make(family: 2, source: s, destination: d, sourcePort: sp, destinationPort: dp,
                            state: state, error: error, segments: segments, networkNamespace: 4_026_531_840,
                            kind: kind.rawValue, cgroupID: cgroup)
        }
        func v6(_ s: String, _ sp: UInt16, _ d: String, _ dp: UInt16, state: Int32 = 1, error: Int32 = 0,
                segments: UInt16 = 1, kind: Exporter.RetransmissionKind = .timeout, cgroup: UInt64 = 102) -> [UInt8] {
            EventBytes.make(family: 10, source: EventBytes.address(s), destination: EventBytes.address(d),
                            sourcePort: sp, destinationPort: dp, state: state, error: error, segments: segments,
                            networkNamespace: 4_026_532_317, kind: kind.rawValue, cgroupID: cgroup)
        }
        var events: [[UInt8]] = []
        events += Array(repeating: v4([10, 203, 0, 1], 40_000, [10, 203, 0, 2], 7101), count: 3)
        events.append(v4([10, 203, 0, 1], 40_000, [10, 203, 0, 2], 7101, error: -16))
        events.append(v4([10, 203, 0, 1], 39_999, [10, 203, 0, 2], 7101, state: 4))
        events += Array(repeating: v6("fd00:203::1", 50_000, "fd00:203::2", 7101), count: 2)
        events.append(v6("::ffff:192.0.2.1", 1234, "::ffff:192.0.2.2", 80, state: 2, kind: .syn, cgroup: 103))
        events.append(v6("2001:db8:0:0:1:0:0:1", 443, "2001:db8::abcd", 55_555, segments: 7, kind: .tailLossProbe,
                         cgroup: 104))
        events.append(v4([192, 0, 2, 9], 22, [192, 0, 2, 10], 60_000, state: 2, error: -11))
        events.append(v4([10, 203, 0, 2], 7101, [10, 203, 0, 1], 40_001, state: 12, segments: 1, kind: .synAck,
                         cgroup: 1))
        // The tracepoint/ fallback's record: nothing known beyond the flow.
        events.append(v4([10, 203, 0, 1], 40_000, [10, 203, 0, 2], 7101, segments: 0, kind: .unknown, cgroup: 0))
        events.append(Array(v4([1, 1, 1, 1], 1, [2, 2, 2, 2], 2)[0..<20]))
        return events
    }

    static func exposition(_ state: ExporterState, events: [[UInt8]] = events) -> String {
        EventBytes.record(events, into: state)
        var body = state.scrape()
        return body.readString(length: body.readableBytes) ?? ""
    }

    static func goldenPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
    }
}

@Suite struct ExpositionTests {
    /// Set UPDATE_GOLDEN=1 to rewrite a golden file after an intended change, then review the diff.
    private func checkGolden(_ name: String, _ text: String) throws {
        let path = ExpositionFixture.goldenPath(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == golden, "exposition differs from \(path); diff it, or UPDATE_GOLDEN=1 if intended")
    }

    @Test func defaultLabelsMatchTheGoldenFile() throws {
        try checkGolden("default-labels.prom", ExpositionFixture.exposition(try ExpositionFixture.state()))
    }

    @Test func chosenLabelsAndOverflowMatchTheGoldenFile() throws {
        let state = try ExpositionFixture.state(labels: "dst_port,state,ip_version", maximumSeries: 2)
        try checkGolden("overflow.prom", ExpositionFixture.exposition(state))
    }

    /// Every label the attribution adds, and the family that is always on.
    @Test func workloadLabelsMatchTheGoldenFile() throws {
        let state = try ExpositionFixture.state(labels: "dst_port,kind,netns,cgroup,pod_uid,container_id")
        try checkGolden("workload-labels.prom", ExpositionFixture.exposition(state))
    }

    @Test func outputDoesNotDependOnArrivalOrder() throws {
        let expected = ExpositionFixture.exposition(try ExpositionFixture.state())
        var generator = SeededRandom(seed: 4)
        for _ in 0..<20 {
            let shuffled = ExpositionFixture.events.shuffled(using: &generator)
            #expect(ExpositionFixture.exposition(try ExpositionFixture.state(), events: shuffled) == expected)
        }
    }

    /// Later scrapes merge new series into the kept order; the result equals a fresh render.
    @Test func incrementalScrapesEqualAFreshRender() throws {
        let events = ExpositionFixture.events
        let incremental = try ExpositionFixture.state()
        for event in events {
            _ = ExpositionFixture.exposition(incremental, events: [event])
        }
        let fresh = ExpositionFixture.exposition(try ExpositionFixture.state())
        #expect(ExpositionFixture.exposition(incremental, events: []) == fresh)
    }

    @Test func labelValuesAndHelpAreEscaped() throws {
        var writer = ExpositionWriter()
        writer.family("x_total", type: .counter, help: "a \\ b\nc \"q\"")
        writer.sample("x_total", labels: [("v", "1 \"beta\" \\path\nline")], value: 2)
        let text = String(buffer: writer.buffer)
        #expect(text == "# HELP x_total a \\\\ b\\nc \"q\"\n# TYPE x_total counter\nx_total{v=\"1 \\\"beta\\\" \\\\path\\nline\"} 2\n")
    }

    @Test func secondsAreExactDecimals() {
        #expect(SecondsText.fromNanoseconds(0) == "0.000000000")
        #expect(SecondsText.fromNanoseconds(1_234_567_890) == "1.234567890")
        #expect(SecondsText.fromNanoseconds(5) == "0.000000005")
        #expect(SecondsText.fromNanoseconds(UInt64.max) == "18446744073.709551615")
    }

    @Test func kernelFamiliesAreLeftOutWhenUnknown() throws {
        let state = ExporterState(buildInfo: BuildInfo(version: "0"), source: FlowTableSource())
        let text = ExpositionFixture.exposition(state, events: [])
        #expect(!text.contains("retrans_exporter_bpf_"))
        #expect(!text.contains("retrans_exporter_samples_lost_total"))
        #expect(!text.contains("retrans_exporter_ring_framing_errors_total"))
        #expect(!text.contains("tcp_segments_"))
        #expect(text.contains("# TYPE tcp_retransmissions_total counter\n"))
    }

    /// promtool is the reference parser and linter of the format.
    @Test(arguments: ["default-labels.prom", "overflow.prom", "escaped"])
    func promtoolAcceptsTheExposition(_ name: String) throws {
        guard let promtool = Command.which("promtool") else {
            Issue.record("promtool is not installed (Debian package prometheus): cannot check the exposition")
            return
        }
        let text = name == "escaped"
            ? ExpositionFixture.exposition(try ExpositionFixture.state(version: "1 \"beta\" \\path\nline"))
            : try String(contentsOfFile: ExpositionFixture.goldenPath(name), encoding: .utf8)
        let result = try Command.run([promtool, "check", "metrics"], input: text, check: false)
        #expect(result.status == 0, "promtool: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "promtool: \(result.stdout) \(result.stderr)")
    }
}
