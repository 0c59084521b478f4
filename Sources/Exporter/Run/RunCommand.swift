import BPFSyscall
import Logging

/// `retrans-exporter run`: load, attach, stream the rings, count, serve.
struct RunCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "run",
        abstract: "Count TCP retransmissions and serve them on /metrics (the default command).",
        options: KernelFlags.options(drainIntervalDefault: "500ms") + [
            .value("web.listen-address", "ADDRESS", default: ":2112",
                   help: "Address to serve on: host:port, [v6]:port, or :port for every address."),
            .value("web.telemetry-path", "PATH", default: "/metrics", help: "Path under which to serve metrics."),
            .value("web.config.file", "PATH",
                   help: "TLS, basic auth and headers, in exporter-toolkit's web configuration format (docs/WEB-CONFIG.md)."),
            .value("metrics.labels", "LABELS", default: FlowLabelSelection.default.description,
                   help: "Labels of the flow counters, chosen from ip_version, src_ip, src_port, dst_ip, dst_port, state."),
            .value("metrics.max-series", "N", default: "10000",
                   help: "Flow series kept before new flows go to one overflow series (bounds memory)."),
            .value("log.level", "LEVEL", default: "info",
                   help: "trace, debug, info, notice, warning, error or critical."),
            .value("run-as-user", "USER",
                   help: "Once attached, switch to this user (every capability is dropped either way)."),
        ])

    var kernel: KernelFlags
    var listenAddress: String
    var telemetryPath: String
    var webConfigFile: String?
    var serverConfiguration: HTTPServerConfiguration
    var metricsConfiguration: MetricsConfiguration
    var logLevel: Logger.Level
    var runAsUser: UserAccount?

    init(_ arguments: ParsedArguments) throws(UsageError) {
        kernel = try KernelFlags(arguments)
        listenAddress = arguments.value("web.listen-address") ?? ":2112"
        telemetryPath = arguments.value("web.telemetry-path") ?? "/metrics"
        webConfigFile = arguments.value("web.config.file")
        let address = try arguments.value("web.listen-address", accepts: "host:port") { try ListenAddress(parsing: $0) }
        serverConfiguration = HTTPServerConfiguration(listenAddress: address ?? .default, telemetryPath: telemetryPath)
        let labels = try arguments.value("metrics.labels", accepts: "label names") { try FlowLabelSelection(parsing: $0) }
        let maximumSeries = try arguments.integer("metrics.max-series", in: 0...MetricsConfiguration.seriesLimit)
        metricsConfiguration = MetricsConfiguration(labels: labels ?? .default, maximumSeries: maximumSeries ?? 10_000)
        logLevel = try arguments.choice("log.level", Logger.Level.self) ?? .info
        runAsUser = try arguments.value("run-as-user", accepts: "a user name") { try UserAccount.lookup($0) }
        do {
            try serverConfiguration.validate()
        } catch {
            throw UsageError(command: "run", message: "\(error)")
        }
    }

    func run() throws {
        TerminationSignals.block()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "retrans-exporter")
        // Checked before anything else: a bad file loads nothing into the kernel.
        var serverConfiguration = serverConfiguration
        do {
            serverConfiguration.web = try webConfigFile.map { path throws(WebConfigurationError) in
                try WebConfiguration.load(path: path)
            }
        } catch {
            throw commandFailure(error)
        }

        // The port first: a busy port fails before anything is loaded into the kernel.
        let flows = FlowCounter(selection: metricsConfiguration.labels,
                                maximumSeries: metricsConfiguration.maximumSeries)
        let kernelHooks = KernelHooks()
        let state = ExporterState(
            configuration: metricsConfiguration, buildInfo: BuildInfo(version: RetransExporter.version),
            flows: flows,
            source: MetricsSource(prepareScrape: { kernelHooks.drain() },
                                  kernelStatistics: { kernelHooks.statistics() }))
        let server: MetricsHTTPServer
        do {
            server = try MetricsHTTPServer(configuration: serverConfiguration, state: state,
                                           buildVersion: RetransExporter.version, logger: logger)
        } catch {
            throw commandFailure(error)
        }

        let session = try openSession(flows: flows, stoppingOnFailure: server)
        // For `make bench` (exec -> attached): the clock is the one a launcher can read before exec.
        logger.debug("program attached", metadata: ["attached_monotonic_ns": "\(MonotonicClock.nanoseconds())"])
        let statistics = KernelStatisticsReader(object: session.object, poller: session.poller, logger: logger)
        let poller = session.poller
        kernelHooks.install(drain: { poller.drain() }, statistics: { statistics.read() })
        let drainInterval = kernel.drainInterval
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
            server.shutdown()
            session.close()
            throw commandFailure(error)
        }

        logger.info("""
            attached \(KernelSession<FlowSink>.programName) to tracepoint \
            \(session.attachment.category)/\(session.attachment.name) \
            via \(session.attachment.method.rawValue); \(poller.cpus.count) CPU rings of \
            \(poller.ringDataSize >> 10) KiB; object \(session.objectOrigin); \
            failed retransmissions \(session.tracepointHasErr ? "reported apart" : "not reported by this kernel"); \
            serving \(serverConfiguration.web?.tls == nil ? "http" : "https")://\(listenAddress)\(telemetryPath)
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

    /// The kernel side; on failure the already running HTTP server is stopped first.
    private func openSession(flows: FlowCounter, stoppingOnFailure server: MetricsHTTPServer) throws
        -> KernelSession<FlowSink> {
        do {
            return try kernel.openSession(sink: FlowSink(flows: flows))
        } catch {
            server.shutdown()
            throw error
        }
    }
}
