import ArgumentParser

/// `retrans-exporter`: counts TCP retransmissions with eBPF and serves them to Prometheus.
struct RetransExporter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrans-exporter",
        abstract: "Count every TCP retransmission with eBPF and serve the counts to Prometheus.",
        subcommands: [InspectCommand.self, CheckCommand.self],
        defaultSubcommand: InspectCommand.self
    )
}

RetransExporter.main()
