/// Numbers only the kernel side knows, handed over at scrape time. Every field is optional:
/// a family whose number is unknown (no stats map, stats not enabled) is left out of the
/// exposition rather than shown as a misleading 0.
struct KernelStatistics: Sendable, Equatable {
    /// PERF_RECORD_LOST totals per CPU, in CPU order.
    var samplesLostByCPU: [(cpu: Int, lost: UInt64)] = []
    /// Sum over CPUs of the `stats` map's RETRANS_STAT_EMITTED.
    var bpfEmitted: UInt64?
    /// Sum over CPUs of RETRANS_STAT_EMIT_FAILED.
    var bpfEmitFailed: UInt64?
    /// Program info `run_cnt` (counted while the process holds a BPF_ENABLE_STATS fd).
    var programRunCount: UInt64?
    /// Program info `run_time_ns`.
    var programRunTimeNanoseconds: UInt64?
    /// Program info `recursion_misses`: tracepoint hits on which the kernel skipped the program
    /// because a BPF program was already running on that CPU. Counted with or without statistics.
    var programRecursionMisses: UInt64?
    /// Ring passes that stopped on bytes that were not a record and skipped to the producer (every
    /// ring, summed): events lost in user space. Never expected; a reader or kernel fault.
    var ringFramingErrors: UInt64?

    init(
        samplesLostByCPU: [(cpu: Int, lost: UInt64)] = [], bpfEmitted: UInt64? = nil,
        bpfEmitFailed: UInt64? = nil, programRunCount: UInt64? = nil,
        programRunTimeNanoseconds: UInt64? = nil, programRecursionMisses: UInt64? = nil,
        ringFramingErrors: UInt64? = nil
    ) {
        self.samplesLostByCPU = samplesLostByCPU
        self.bpfEmitted = bpfEmitted
        self.bpfEmitFailed = bpfEmitFailed
        self.programRunCount = programRunCount
        self.programRunTimeNanoseconds = programRunTimeNanoseconds
        self.programRecursionMisses = programRecursionMisses
        self.ringFramingErrors = ringFramingErrors
    }

    static func == (lhs: KernelStatistics, rhs: KernelStatistics) -> Bool {
        lhs.samplesLostByCPU.elementsEqual(rhs.samplesLostByCPU) { $0.cpu == $1.cpu && $0.lost == $1.lost }
            && lhs.bpfEmitted == rhs.bpfEmitted && lhs.bpfEmitFailed == rhs.bpfEmitFailed
            && lhs.programRunCount == rhs.programRunCount
            && lhs.programRunTimeNanoseconds == rhs.programRunTimeNanoseconds
            && lhs.programRecursionMisses == rhs.programRecursionMisses
            && lhs.ringFramingErrors == rhs.ringFramingErrors
    }
}

/// Where a scrape's numbers come from: the live kernel side in `run` (`KernelScrapeSource`,
/// whose ring reader feeds the flow table under the poller's one lock), or a table filled by
/// hand in benchmarks and tests (`FlowTableSource`). Called on the scrape thread, one scrape
/// at a time.
protocol ScrapeSource: Sendable {
    /// Makes the counts current (reads the rings) and copies them into `counts`, whose storage
    /// the scrape side reuses; also what only the kernel knows.
    func collect(into counts: inout [SeriesCounts]) -> (flows: FlowSnapshot, kernel: KernelStatistics)
    /// `Tcp: OutSegs`/`RetransSegs`; nil leaves the two families out.
    func tcpSegments() -> TCPSegmentCounters?
    /// Drops the workload series of cgroups that no longer exist.
    func forgetCgroups(_ ids: Set<UInt64>)
    /// The TCP counters of every network namespace; nil leaves the `tcp_netns_*` families out.
    func namespaceCounters() -> NamespaceCounterCollector.Outcome?
}

extension ScrapeSource {
    func tcpSegments() -> TCPSegmentCounters? { try? TCPSegmentCounters.read() }
    func namespaceCounters() -> NamespaceCounterCollector.Outcome? { nil }
}
