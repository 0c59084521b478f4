import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// Prints the benchmark figures; runs only when asked (RTX_BENCH=1), and in a release
/// build for meaningful numbers:
///   swift build -c release --build-tests
///   RTX_BENCH=1 swift test -c release --skip-build --filter BenchmarkTests
@Suite struct BenchmarkTests {
    @Test(.enabled(if: Benchmark.isEnabled,
                   Comment(rawValue: Benchmark.skipReason("metrics and exposition, build with -c release"))))
    func printFigures() {
        MetricsBenchmark.run()
    }
}
