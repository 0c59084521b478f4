import BPFSyscall

/// The ring reader's sink in `run` is the flow table itself: each sample is decoded and
/// counted under the poller's lock, the only lock on the hot path. Lost samples are kept
/// per CPU by the rings (`PerfRingStatistics`) and read at scrape time.
extension FlowTable: PerfEventSink {
    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
        record(sample: sample)
    }

    mutating func lost(cpu: Int, count: UInt64) {}
}

/// A scrape in `run`: drain the rings into the flow table and copy it, under one hold of the
/// poller's lock; then what only the kernel knows: the program's own emit counters (`stats`)
/// and its run count, run time and recursion misses.
final class KernelScrapeSource: ScrapeSource {
    private let poller: PerfEventPoller<FlowTable>
    private let binding: RetransObjectBinding
    private let runtimeStatisticsHeld: Bool

    private let namespaces: NamespaceCounterCollector?

    init(poller: PerfEventPoller<FlowTable>, binding: RetransObjectBinding, runtimeStatisticsHeld: Bool,
         namespaceTasks: (@Sendable () throws -> [UInt8])? = nil) {
        self.poller = poller
        self.binding = binding
        self.runtimeStatisticsHeld = runtimeStatisticsHeld
        namespaces = namespaceTasks.map { NamespaceCounterCollector(iterate: $0) }
    }

    func namespaceCounters() -> NamespaceCounterCollector.Outcome? { namespaces?.collect() }

    func collect(into counts: inout [SeriesCounts]) -> (flows: FlowSnapshot, kernel: KernelStatistics) {
        var kernel = KernelStatistics()
        let perCPU = poller.transport == .perf
        let flows = poller.drain { table, rings in
            // The ring buffer has no lost records: a full ring fails the program's reserve,
            // which it counts itself (bpf_emit_failed).
            if perCPU { kernel.samplesLostByCPU = rings.map { (cpu: $0.cpu, lost: $0.lost) } }
            kernel.ringFramingErrors = rings.reduce(0) { $0 &+ $1.framingErrors }
            return table.snapshot(into: &counts)
        }
        let stats = binding.stats
        kernel.bpfEmitted = try? stats.perCPUCounters(index: RetransObjectBinding.emittedIndex)
            .reduce(0) { $0 &+ $1.count }
        kernel.bpfEmitFailed = try? stats.perCPUCounters(index: RetransObjectBinding.emitFailedIndex)
            .reduce(0) { $0 &+ $1.count }
        // Every attached program that counts retransmissions (the SYN-ACK one too), summed.
        let infos = binding.programs.compactMap { try? $0.info() }
        if infos.count == binding.programs.count {
            kernel.programRecursionMisses = infos.reduce(0) { $0 &+ $1.recursionMisses }
            if runtimeStatisticsHeld {
                kernel.programRunCount = infos.reduce(0) { $0 &+ $1.runCount }
                kernel.programRunTimeNanoseconds = infos.reduce(0) { $0 &+ $1.runTimeNanoseconds }
            }
        }
        return (flows, kernel)
    }

    func forgetCgroups(_ ids: Set<UInt64>) {
        poller.withSink { table in table.workloads.forget(cgroups: ids) }
    }
}
