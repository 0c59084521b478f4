#if canImport(Glibc)
import Glibc
#endif

/// Tests that print figures (benchmarks, not pass/fail checks) run only when asked,
/// with `RTX_BENCH=1`; otherwise they are skipped with `skipReason`, never counted as passes.
public enum Benchmark {
    public static var isEnabled: Bool { getenv("RTX_BENCH").map { String(cString: $0) } == "1" }

    public static func skipReason(_ what: String) -> String {
        "benchmark (\(what)): prints figures, runs only with RTX_BENCH=1"
    }
}
