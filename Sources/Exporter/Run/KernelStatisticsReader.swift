import BPFSyscall
import Logging

/// Reads, at scrape time, what only the kernel knows: lost samples per CPU, the
/// program's own emit counters (`stats` map) and its run count and run time.
final class KernelStatisticsReader: Sendable {
    private let stats: LoadedMap?
    private let program: LoadedProgram?
    private let lost: @Sendable () -> [(cpu: Int, lost: UInt64)]
    /// Held while the exporter runs: the kernel counts run time only while some fd asks it to.
    private let runtimeStatistics: SharedFileDescriptor?

    init<Sink>(object: borrowing LoadedObject, poller: PerfEventPoller<Sink>, logger: Logger) {
        stats = object.map(named: "stats")
        program = object.program(named: KernelSession<Sink>.programName)
        lost = { poller.statistics().map { (cpu: $0.cpu, lost: $0.lost) } }
        do {
            runtimeStatistics = try RuntimeStatistics().shared()
        } catch {
            // Needs CAP_SYS_ADMIN: without it the run-time metrics are left out, not faked.
            logger.notice("BPF run-time statistics unavailable (\(error)); retrans_exporter_bpf_run_* left out")
            runtimeStatistics = nil
        }
    }

    func read() -> KernelStatistics {
        var result = KernelStatistics(samplesLostByCPU: lost())
        if let stats {
            result.bpfEmitted = try? stats.perCPUCounters(index: 0).reduce(0) { $0 &+ $1.count }
            result.bpfEmitFailed = try? stats.perCPUCounters(index: 1).reduce(0) { $0 &+ $1.count }
        }
        if let info = try? program?.info() {
            result.programRecursionMisses = info.recursionMisses
            if runtimeStatistics != nil {
                result.programRunCount = info.runCount
                result.programRunTimeNanoseconds = info.runTimeNanoseconds
            }
        }
        return result
    }

    func close() { runtimeStatistics?.close() }
}
