#if canImport(Glibc)
import Glibc
#endif

/// Turns a slow input into a crash libFuzzer saves and can minimize.
enum SlowInputGuard {
    /// From `RETRANS_FUZZ_SLOW_MS`; nil (off) when unset or not a number.
    static let limitNanoseconds: UInt64? = {
        guard let text = getenv("RETRANS_FUZZ_SLOW_MS"), let milliseconds = UInt64(String(cString: text)),
              milliseconds > 0 else { return nil }
        return milliseconds * 1_000_000
    }()

    /// This thread's CPU time: unaffected by other processes competing for the cores.
    static func cpuNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func check(startedAt start: UInt64) {
        guard let limit = limitNanoseconds else { return }
        let spent = cpuNanoseconds() &- start
        guard spent > limit else { return }
        let message = "slow input: \(spent / 1_000_000) ms of CPU time (limit \(limit / 1_000_000) ms, RETRANS_FUZZ_SLOW_MS)\n"
        writeToStandardError(message)
        abort()
    }
}
