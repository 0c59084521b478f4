import NIOCore

/// Everything one exposition is made of, gathered at scrape time (the flow counts are in the
/// renderer's `counts`).
struct ScrapeInputs: Sendable {
    var flows: FlowSnapshot
    var kernel: KernelStatistics
    var tcpSegments: TCPSegmentCounters?
    var namespaces: NamespaceCounterCollector.Outcome?
}

/// Renders the exposition. Owned by the scrape side; keeps the series order between scrapes.
///
/// Families come in a fixed order; flow series in `FlowKey` order (numeric: version, source,
/// ports, destination, state), the overflow series last. A flow series appears in a family
/// once its count there is non-zero, like any counter that appears on first increment.
struct MetricsRenderer {
    let selection: FlowLabelSelection
    let maximumSeries: Int
    let buildInfo: BuildInfo
    private(set) var seriesOrder = FlowSeriesOrder()
    /// The counts of the scrape in progress, copied under the flow lock; storage reused.
    var counts: [SeriesCounts] = []
    /// cgroup id -> path for the cgroup-derived labels; nil when there is no cgroup2 mount
    /// (those labels are then empty).
    var cgroupResolver: CgroupPathResolver?
    /// Cgroups removed past their grace period: their series are no longer shown.
    private(set) var expiredCgroups: Set<UInt64> = []
    /// Most expired ids remembered (each hides series that can no longer grow).
    static let expiredCgroupLimit = 1 << 20
    private let flowWriter: FlowSeriesWriter
    /// The previous body's size, to allocate the next one in one go.
    private var lastBodySize = 16 * 1024

    private static let retransmissionsName = Array("tcp_retransmissions_total".utf8)
    private static let failuresName = Array("tcp_retransmission_failures_total".utf8)
    private static let segmentsName = Array("tcp_retransmitted_segments_total".utf8)
    static let workloadSegmentsName = "tcp_retransmitted_segments_by_cgroup_total"

    init(selection: FlowLabelSelection, maximumSeries: Int, buildInfo: BuildInfo,
         cgroupResolver: CgroupPathResolver? = nil) {
        self.selection = selection
        self.maximumSeries = maximumSeries
        self.buildInfo = buildInfo
        self.cgroupResolver = cgroupResolver
        flowWriter = FlowSeriesWriter(selection: selection)
    }

    /// Walks the cgroups again if due and returns those removed past their grace period since
    /// the last call: the source forgets their workload series. Call once per scrape, before
    /// `render`.
    mutating func expireCgroups() -> Set<UInt64> {
        guard var resolver = cgroupResolver else { return [] }
        let expired = Set(resolver.refresh())
        cgroupResolver = resolver
        if expiredCgroups.count + expired.count > Self.expiredCgroupLimit { expiredCgroups.removeAll() }
        expiredCgroups.formUnion(expired)
        return expired
    }

    /// The whole exposition in one buffer.
    mutating func render(_ inputs: ScrapeInputs, format: ExpositionFormat = .prometheusText) -> ByteBuffer {
        var writer = ExpositionWriter(capacity: lastBodySize + lastBodySize / 8, format: format)
        render(inputs, to: &writer)
        lastBodySize = writer.buffer.readableBytes
        return writer.finish()
    }

    /// The exposition in chunks of about `chunkBytes`, each handed to `sink` as soon as it is
    /// written (memory: a chunk or two, whatever the number of series).
    mutating func render(
        _ inputs: ScrapeInputs, chunkBytes: Int, format: ExpositionFormat = .prometheusText,
        sink: (ByteBuffer) -> Void
    ) {
        withoutActuallyEscaping(sink) { sink in
            var writer = ExpositionWriter(chunkBytes: chunkBytes, format: format, sink: sink)
            render(inputs, to: &writer)
            _ = writer.finish()
        }
    }

    private mutating func render(_ inputs: ScrapeInputs, to writer: inout ExpositionWriter) {
        seriesOrder.absorb(inputs.flows)
        let cgroups = cgroupLabels(inputs.flows)
        writeFlows(inputs.flows, cgroups: cgroups, to: &writer)
        writeWorkloads(inputs.flows.workloads, cgroups: cgroups, to: &writer)
        writeSegments(inputs.tcpSegments, to: &writer)
        writeNamespaces(inputs.namespaces, to: &writer)
        writeSelfMetrics(inputs, to: &writer)
    }

    /// The cgroup-derived label text of every cgroup this scrape shows.
    private mutating func cgroupLabels(_ flows: FlowSnapshot) -> CgroupLabelText {
        guard cgroupResolver != nil else { return .empty }
        var ids = Set(flows.workloads.keys.lazy.map(\.cgroupID))
        if selection.labels.contains(where: \.isFromCgroup) {
            for key in flows.keys { ids.insert(key.cgroupID) }
        }
        return CgroupLabelText(ids: ids, resolver: &cgroupResolver, expired: expiredCgroups)
    }

    private func writeFlows(_ flows: FlowSnapshot, cgroups: CgroupLabelText, to writer: inout ExpositionWriter) {
        writer.family(
            "tcp_retransmissions_total", type: .counter,
            help: "TCP retransmissions the kernel sent, per flow: hits of tracepoints tcp/tcp_retransmit_skb (err == 0) and, with BTF, tcp/tcp_retransmit_synack, on every CPU. One per retransmitted skb, which can carry several segments.")
        writeFlowSeries(name: Self.retransmissionsName, flows, .retransmissions, cgroups: cgroups, to: &writer)
        writer.family(
            "tcp_retransmission_failures_total", type: .counter,
            help: "TCP retransmissions the kernel attempted but failed to send (tracepoint err != 0), per flow. Never counted in tcp_retransmissions_total.")
        writeFlowSeries(name: Self.failuresName, flows, .failures, cgroups: cgroups, to: &writer)
        writer.family(
            "tcp_retransmitted_segments_total", type: .counter,
            help: "TCP segments in the retransmissions of tcp_retransmissions_total, per flow: tcp_skb_pcount of each skb, 1 per SYN-ACK. Sums to Tcp RetransSegs of the namespaces. Needs kernel BTF (tp_btf); empty with the tracepoint fallback.")
        writeFlowSeries(name: Self.segmentsName, flows, .segments, cgroups: cgroups, to: &writer)
    }

    private func writeFlowSeries(
        name: [UInt8], _ flows: FlowSnapshot, _ count: FlowSeriesWriter.Count, cgroups: CgroupLabelText,
        to writer: inout ExpositionWriter
    ) {
        counts.withUnsafeBufferPointer { counts in
            flowWriter.writeLines(
                name: name, order: seriesOrder.order, keys: flows.keys, counts: counts,
                count: count, cgroups: cgroups, to: &writer)
        }
        let overflow = switch count {
        case .retransmissions: flows.overflow.retransmissions
        case .failures: flows.overflow.failures
        case .segments: flows.overflow.segments
        }
        if overflow != 0 {
            writer.sample(String(decoding: name, as: UTF8.self),
                          labels: selection.labels.map { ($0.rawValue, "overflow") }, value: overflow)
        }
    }

    /// `tcp_retransmitted_segments_by_cgroup_total`: always on, one series per cgroup, network
    /// namespace and kind, in label order. Ids that resolve to no path (not visible from here,
    /// or 0 from a kernel without cgroup data) share the series with an empty `cgroup`.
    private func writeWorkloads(_ workloads: WorkloadSnapshot, cgroups: CgroupLabelText,
                                to writer: inout ExpositionWriter) {
        writer.family(
            Self.workloadSegmentsName, type: .counter,
            help: "TCP segments retransmitted, per workload: the socket's cgroup v2 path (and the pod UID and container id it names), network namespace inode and kind (timeout, fast, tlp, syn, synack, other), whatever --metrics.labels says. Needs kernel BTF (tp_btf).")
        var series: [WorkloadSeriesLabels: UInt64] = [:]
        for (key, value) in zip(workloads.keys, workloads.segments) where value != 0 && !cgroups.isHidden(key.cgroupID) {
            let entry = cgroups.entries[key.cgroupID]
            let labels = WorkloadSeriesLabels(
                cgroup: entry?.rawPath ?? "", podUID: entry?.workload.podUID ?? "",
                containerID: entry?.workload.containerID ?? "",
                netns: key.networkNamespace == 0 ? "" : String(key.networkNamespace),
                kind: "\(key.kind.label)")
            series[labels, default: 0] &+= value
        }
        for (labels, value) in series.sorted(by: { $0.key < $1.key }) {
            writer.sample(Self.workloadSegmentsName, labels: labels.pairs, value: value)
        }
        if workloads.overflowSegments != 0 {
            writer.sample(Self.workloadSegmentsName,
                          labels: WorkloadSeriesLabels.names.map { ($0, "overflow") },
                          value: workloads.overflowSegments)
        }
    }

    /// `tcp_netns_*{netns}`: the kernel's own counters of every network namespace a process is in.
    private func writeNamespaces(_ outcome: NamespaceCounterCollector.Outcome?, to writer: inout ExpositionWriter) {
        guard let outcome, outcome.error == nil else { return }
        for family in NamespaceTCPCounters.families {
            writer.family(family.name, type: .counter, help: family.help)
            for (netns, counters) in outcome.counters {
                writer.sample(family.name, labels: [("netns", String(netns))], value: family.value(counters))
            }
        }
    }

    private func writeSegments(_ segments: TCPSegmentCounters?, to writer: inout ExpositionWriter) {
        guard let segments else { return }
        writer.family(
            "tcp_segments_sent_total", type: .counter,
            help: "TCP segments sent: Tcp OutSegs from /proc/net/snmp, in the exporter's network namespace. Counts segments, not skbs.")
        writer.sample("tcp_segments_sent_total", value: segments.sent)
        writer.family(
            "tcp_segments_retransmitted_total", type: .counter,
            help: "TCP segments retransmitted: Tcp RetransSegs from /proc/net/snmp, in the exporter's network namespace. Counts segments; tcp_retransmissions_total counts skbs (one skb can hold several segments), so the two differ.")
        writer.sample("tcp_segments_retransmitted_total", value: segments.retransmitted)
    }

    private func writeSelfMetrics(_ inputs: ScrapeInputs, to writer: inout ExpositionWriter) {
        let flows = inputs.flows
        let kernel = inputs.kernel
        writer.family(
            "retrans_exporter_events_received_total", type: .counter,
            help: "Event records read from the perf rings, including those that failed to decode.")
        writer.sample("retrans_exporter_events_received_total", value: flows.eventsReceived)
        if !kernel.samplesLostByCPU.isEmpty {
            writer.family(
                "retrans_exporter_samples_lost_total", type: .counter,
                help: "Event records the kernel dropped because a CPU's perf ring was full (PERF_RECORD_LOST), per CPU.")
            for (cpu, lost) in kernel.samplesLostByCPU {
                writer.sample("retrans_exporter_samples_lost_total", labels: [("cpu", String(cpu))], value: lost)
            }
        }
        writer.family(
            "retrans_exporter_decode_errors_total", type: .counter,
            help: "Event records that could not be decoded (too short or unknown address family).")
        writer.sample("retrans_exporter_decode_errors_total", value: flows.decodeErrors)
        writer.family(
            "retrans_exporter_series_dropped_total", type: .counter,
            help: "Events (successful and failed retransmissions) counted in the overflow series instead of their own, because their label set was new while --metrics.max-series flow series existed.")
        writer.sample("retrans_exporter_series_dropped_total", value: flows.seriesDropped)
        writer.family(
            "retrans_exporter_series", type: .gauge,
            help: "Flow label sets tracked (at most --metrics.max-series), not counting the overflow series.")
        writer.sample("retrans_exporter_series", value: UInt64(flows.seriesCount))
        writeOptional(
            "retrans_exporter_bpf_emitted_total", kernel.bpfEmitted,
            help: "Events the BPF program wrote into the perf rings, all CPUs (equals events received once the rings are read).",
            to: &writer)
        writeOptional(
            "retrans_exporter_bpf_emit_failed_total", kernel.bpfEmitFailed,
            help: "Events the BPF program could not write into a perf ring (ring full), all CPUs; the kernel adds each to samples lost, reported in front of that CPU's next record.",
            to: &writer)
        writeOptional(
            "retrans_exporter_bpf_recursion_misses_total", kernel.programRecursionMisses,
            help: "Tracepoint hits the kernel did not run the BPF program for, because a BPF program was already running on that CPU (recursion_misses): retransmissions missed, not in any other count.",
            to: &writer)
        writeOptional(
            "retrans_exporter_ring_framing_errors_total", kernel.ringFramingErrors,
            help: "Ring reads that met bytes that were not a record and skipped to the kernel's write position: events lost in the exporter, never expected (a reader or kernel fault).",
            to: &writer)
        writeOptional(
            "retrans_exporter_bpf_run_count_total", kernel.programRunCount,
            help: "Runs of the BPF program while the exporter held BPF statistics enabled (run_cnt).",
            to: &writer)
        if let nanoseconds = kernel.programRunTimeNanoseconds {
            writer.family(
                "retrans_exporter_bpf_run_seconds_total", type: .counter,
                help: "Time spent running the BPF program while the exporter held BPF statistics enabled (run_time_ns).")
            writer.sample("retrans_exporter_bpf_run_seconds_total",
                          valueText: SecondsText.fromNanoseconds(nanoseconds))
        }
        writer.family(
            "retrans_exporter_build_info", type: .info,
            help: "Build information of the running exporter; the value is always 1.")
        writer.sample("retrans_exporter_build_info",
                      labels: [("version", buildInfo.version), ("swift_version", buildInfo.swiftVersion)],
                      value: 1)
    }

    private func writeOptional(_ name: String, _ value: UInt64?, help: String, to writer: inout ExpositionWriter) {
        guard let value else { return }
        writer.family(name, type: .counter, help: help)
        writer.sample(name, value: value)
    }
}

/// The label values of one `tcp_retransmitted_segments_by_cgroup_total` series.
struct WorkloadSeriesLabels: Hashable, Comparable {
    var cgroup: String
    var podUID: String
    var containerID: String
    var netns: String
    var kind: String

    static let names = ["cgroup", "pod_uid", "container_id", "netns", "kind"]

    var pairs: [(String, String)] {
        [("cgroup", cgroup), ("pod_uid", podUID), ("container_id", containerID), ("netns", netns), ("kind", kind)]
    }

    static func < (lhs: WorkloadSeriesLabels, rhs: WorkloadSeriesLabels) -> Bool {
        (lhs.cgroup, lhs.netns, lhs.kind, lhs.podUID, lhs.containerID)
            < (rhs.cgroup, rhs.netns, rhs.kind, rhs.podUID, rhs.containerID)
    }
}
