import ArgumentParser
import BPFSyscall
import Logging

/// `retrans-exporter run`: load, attach, stream the rings, count, serve.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Count TCP retransmissions and serve them on /metrics (the default command).")

    @OptionGroup var kernel: KernelFlags

    @Option(name: .customLong("web.listen-address"),
            help: "Address to serve on: host:port, [v6]:port, or :port for every address.")
    var listenAddress = ":2112"

    @Option(name: .customLong("web.telemetry-path"), help: "Path under which to serve metrics.")
    var telemetryPath = "/metrics"

    @Option(name: .customLong("metrics.labels"),
            help: "Labels of tcp_retransmissions_total, from ip_version, src_ip, src_port, dst_ip, dst_port, state.")
    var labels = FlowLabelSelection.default.description

    @Option(name: .customLong("metrics.max-series"),
            help: "Flow series kept before new flows go to one overflow series (bounds memory).")
    var maxSeries = 10_000

    @Option(name: .customLong("run-as-user"),
            help: ArgumentHelp("Once attached, switch to this user (every capability is dropped either way).",
                               valueName: "user"),
            transform: { try UserAccount.lookup($0) })
    var runAsUser: UserAccount?

    @Option(name: .customLong("log.level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() throws {
        TerminationSignals.block()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "retrans-exporter")

        let serverConfiguration: HTTPServerConfiguration
        let metricsConfiguration: MetricsConfiguration
        do {
            serverConfiguration = HTTPServerConfiguration(
                listenAddress: try ListenAddress(parsing: listenAddress), telemetryPath: telemetryPath)
            try serverConfiguration.validate()
            metricsConfiguration = MetricsConfiguration(
                labels: try FlowLabelSelection(parsing: labels), maximumSeries: maxSeries)
            try metricsConfiguration.validate()
        } catch {
            throw ValidationError("\(error)")
        }

        let flows = FlowCounter(selection: metricsConfiguration.labels,
                                maximumSeries: metricsConfiguration.maximumSeries)
        let session = try kernel.openSession(sink: FlowSink(flows: flows))
        let statistics = KernelStatisticsReader(object: session.object, poller: session.poller, logger: logger)
        let poller = session.poller
        let drainInterval = kernel.drainInterval.duration
        let ringThread: DedicatedThread
        do {
            ringThread = try DedicatedThread(name: "rings") {
                do {
                    try poller.run(drainInterval: drainInterval)
                } catch {
                    logger.error("reading the perf rings failed: \(error)")
                }
            }
        } catch {
            session.close()
            throw commandFailure(error)
        }

        let state = ExporterState(
            configuration: metricsConfiguration, buildInfo: BuildInfo(version: RetransExporter.version),
            flows: flows,
            source: MetricsSource(
                prepareScrape: { poller.drain() },
                kernelStatistics: { statistics.read() }))
        let server: MetricsHTTPServer
        do {
            server = try MetricsHTTPServer(configuration: serverConfiguration, state: state,
                                           buildVersion: RetransExporter.version, logger: logger)
        } catch {
            session.close()
            ringThread.join()
            throw commandFailure(error)
        }

        logger.info("""
            attached \(KernelSession<FlowSink>.programName) to tracepoint \
            \(KernelSession<FlowSink>.tracepoint.category)/\(KernelSession<FlowSink>.tracepoint.name) \
            via \(session.attachment.method.rawValue); \(poller.cpus.count) CPU rings of \
            \(poller.ringDataSize >> 10) KiB; object \(session.objectOrigin); \
            failed retransmissions \(session.tracepointHasErr ? "reported apart" : "not reported by this kernel"); \
            serving http://\(listenAddress)\(telemetryPath)
            """)
        for warning in session.object.warnings { logger.warning("\(warning)") }
        do {
            let dropped = try Privileges.dropAll(switchingTo: runAsUser)
            logger.info("\(dropped)")
        } catch {
            server.shutdown(); session.close(); ringThread.join(); statistics.close()
            throw commandFailure(error)
        }

        let signal = TerminationSignals.wait()
        logger.info("signal \(signal): detaching and stopping")
        server.shutdown()
        session.close()
        ringThread.join()
        statistics.close()
    }
}
