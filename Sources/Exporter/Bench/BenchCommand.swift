/// `retrans-exporter bench`: hidden; prints the user-space benchmark figures (`make bench`).
struct BenchCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "bench",
        abstract: "Print user-space benchmark figures (decode+count rate, render time, RSS).",
        options: [
            .flag("compression", help: "Only the gzip figures (body size, render time at 10k and 100k series)."),
            .value("series", "N", help: "Only the render figures at N series: first and steady scrapes, plain and gzip."),
            .value("scrapes", "K", help: "With --series: steady scrapes to time (default 31, 11 from 100k series; 0 for the first only)."),
        ],
        hidden: true)

    let compressionOnly: Bool
    let renderSeries: Int?
    let steadyScrapes: Int?

    init(_ arguments: ParsedArguments) throws(UsageError) {
        compressionOnly = arguments.flag("compression")
        renderSeries = try arguments.integer("series", in: 1...MetricsConfiguration.seriesLimit)
        steadyScrapes = try arguments.integer("scrapes", in: 0...1000)
    }

    func run() throws {
        if let renderSeries {
            // Alone, so that `valgrind --tool=callgrind` can count a scrape's instructions.
            MetricsBenchmark.runRender(series: renderSeries, steadyScrapes: steadyScrapes)
            return
        }
        if compressionOnly {
            CompressionBenchmark.run()
            return
        }
        MetricsBenchmark.run()
        CompressionBenchmark.run()
    }
}
