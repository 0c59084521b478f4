import ArgumentParser

/// `retrans-exporter bench`: hidden; prints the user-space benchmark figures (`make bench`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Print user-space benchmark figures (decode+count rate, render time, RSS).",
        shouldDisplay: false)

    func run() throws {
        MetricsBenchmark.run()
    }
}
