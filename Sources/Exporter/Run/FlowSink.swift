import BPFSyscall

/// Hands each ring sample to the flow table. Lost samples are not counted here:
/// the poller keeps them per CPU (`PerfEventPoller.statistics()`), read at scrape time.
struct FlowSink: PerfEventSink {
    let flows: FlowCounter

    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
        flows.record(sample: sample)
    }

    mutating func lost(cpu: Int, count: UInt64) {}
}
