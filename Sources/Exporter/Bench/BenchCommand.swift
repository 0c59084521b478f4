/// `retrans-exporter bench`: hidden; prints the user-space benchmark figures (`make bench`).
struct BenchCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "bench",
        abstract: "Print user-space benchmark figures (decode+count rate, render time, RSS).",
        options: [], hidden: true)

    init(_ arguments: ParsedArguments) throws(UsageError) {}

    func run() throws {
        MetricsBenchmark.run()
    }
}
