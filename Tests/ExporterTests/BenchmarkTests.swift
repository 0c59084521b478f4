import Foundation
import Testing
@testable import Exporter

/// Prints the benchmark figures; runs only when asked (RETRANS_BENCH=1), and in a release
/// build for meaningful numbers:
///   swift build -c release --build-tests
///   RETRANS_BENCH=1 swift test -c release --skip-build --filter BenchmarkTests
@Suite struct BenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RETRANS_BENCH"] == "1",
                   "benchmark: set RETRANS_BENCH=1 (and build with -c release) to print figures"))
    func printFigures() {
        MetricsBenchmark.run()
    }
}
