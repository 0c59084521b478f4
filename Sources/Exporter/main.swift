#if canImport(Glibc)
import Glibc
#endif

/// `retrans-exporter`: counts TCP retransmissions with eBPF and serves them to Prometheus.
enum RetransExporter {
    static let version = "0.1.0"
    static let commands: [any ExporterCommand.Type] = [
        RunCommand.self, TailCommand.self, InspectCommand.self, CheckCommand.self,
        BenchCommand.self, HotPathBenchCommand.self,
    ]
}

exit(CommandDispatcher.main(Array(CommandLine.arguments.dropFirst()),
                            commands: RetransExporter.commands, version: RetransExporter.version))
