import ArgumentParser
import Logging

/// `retrans-exporter`: counts TCP retransmissions with eBPF and serves them to Prometheus.
struct RetransExporter: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "retrans-exporter",
        abstract: "Count every TCP retransmission with eBPF and serve the counts to Prometheus.",
        version: version,
        subcommands: [RunCommand.self, TailCommand.self, InspectCommand.self, CheckCommand.self,
                      BenchCommand.self, HotPathBenchCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

RetransExporter.main()
