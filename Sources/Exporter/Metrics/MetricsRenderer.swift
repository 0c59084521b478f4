import NIOCore

/// Everything one exposition is made of, gathered at scrape time (the flow counts are in the
/// renderer's `counts`).
struct ScrapeInputs: Sendable {
    var flows: FlowSnapshot
    var kernel: KernelStatistics
    var tcpSegments: TCPSegmentCounters?
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
    private let flowWriter: FlowSeriesWriter
    /// The previous body's size, to allocate the next one in one go.
    private var lastBodySize = 16 * 1024

    private static let retransmissionsName = Array("tcp_retransmissions_total".utf8)
    private static let failuresName = Array("tcp_retransmission_failures_total".utf8)

    init(selection: FlowLabelSelection, maximumSeries: Int, buildInfo: BuildInfo) {
        self.selection = selection
        self.maximumSeries = maximumSeries
        self.buildInfo = buildInfo
        flowWriter = FlowSeriesWriter(selection: selection)
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
        writeFlows(inputs.flows, to: &writer)
        writeSegments(inputs.tcpSegments, to: &writer)
        writeSelfMetrics(inputs, to: &writer)
    }

    private func writeFlows(_ flows: FlowSnapshot, to writer: inout ExpositionWriter) {
        writer.family(
            "tcp_retransmissions_total", type: .counter,
            help: "TCP retransmissions the kernel sent, per flow: hits of tracepoint tcp/tcp_retransmit_skb with err == 0, on every CPU. One per retransmitted skb, which can carry several segments.")
        writeFlowSeries(name: Self.retransmissionsName, flows, \.retransmissions, to: &writer)
        writer.family(
            "tcp_retransmission_failures_total", type: .counter,
            help: "TCP retransmissions the kernel attempted but failed to send (tracepoint err != 0), per flow. Never counted in tcp_retransmissions_total.")
        writeFlowSeries(name: Self.failuresName, flows, \.failures, to: &writer)
    }

    private func writeFlowSeries(
        name: [UInt8], _ flows: FlowSnapshot, _ count: KeyPath<SeriesCounts, UInt64>,
        to writer: inout ExpositionWriter
    ) {
        counts.withUnsafeBufferPointer { counts in
            flowWriter.writeLines(
                name: name, order: seriesOrder.order, keys: flows.keys, counts: counts,
                failures: count == \SeriesCounts.failures, to: &writer)
        }
        let overflow = flows.overflow[keyPath: count]
        if overflow != 0 {
            writer.sample(String(decoding: name, as: UTF8.self),
                          labels: selection.labels.map { ($0.rawValue, "overflow") }, value: overflow)
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
