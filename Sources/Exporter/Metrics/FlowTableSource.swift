import Synchronization

/// A flow table counted by hand, for the `bench` subcommands and tests: the same table and
/// scrape path as `run`, without the kernel.
final class FlowTableSource: ScrapeSource {
    let configuration: MetricsConfiguration
    private let table: Mutex<FlowTable>
    private let kernel: @Sendable () -> KernelStatistics
    private let segments: @Sendable () -> TCPSegmentCounters?

    init(configuration: MetricsConfiguration = MetricsConfiguration(),
         kernelStatistics: @escaping @Sendable () -> KernelStatistics = { KernelStatistics() },
         tcpSegments: @escaping @Sendable () -> TCPSegmentCounters? = { nil }) {
        self.configuration = configuration
        table = Mutex(FlowTable(selection: configuration.labels, maximumSeries: configuration.maximumSeries))
        kernel = kernelStatistics
        segments = tcpSegments
    }

    /// Counts one raw sample, as the ring reader would.
    func record(sample: UnsafeRawBufferPointer) {
        table.withLock { $0.record(sample: sample) }
    }

    /// Runs `body` with the table locked (a batch of samples under one lock, as a ring pass).
    func withTable<Result>(_ body: (inout FlowTable) -> Result) -> Result {
        table.withLock { body(&$0) }
    }

    func collect(into counts: inout [SeriesCounts]) -> (flows: FlowSnapshot, kernel: KernelStatistics) {
        let flows = table.withLock { $0.snapshot(into: &counts) }
        return (flows, kernel())
    }

    func tcpSegments() -> TCPSegmentCounters? { segments() }

    func forgetCgroups(_ ids: Set<UInt64>) {
        table.withLock { $0.workloads.forget(cgroups: ids) }
    }
}
