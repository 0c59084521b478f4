/// `retrans-exporter bench`: hidden; prints the user-space benchmark figures (`make bench`).
struct BenchCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "bench",
        abstract: "Print user-space benchmark figures (decode+count rate, render time, RSS).",
        options: [.flag("compression", help: "Only the gzip figures (body size, render time at 10k and 100k series).")],
        hidden: true)

    let compressionOnly: Bool

    init(_ arguments: ParsedArguments) throws(UsageError) {
        compressionOnly = arguments.flag("compression")
    }

    func run() throws {
        if compressionOnly {
            CompressionBenchmark.run()
            return
        }
        MetricsBenchmark.run()
        CompressionBenchmark.run()
    }
}
