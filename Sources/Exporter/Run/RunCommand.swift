import BPFSyscall
import Logging

/// `retrans-exporter run`: load, attach, stream the rings, count, serve.
///
/// Start-up has two phases. Phase 1, privileged, on the main thread alone: bind the listening
/// socket (a busy port fails before the kernel is touched), then `KernelSession` (object,
/// tracefs, load, rings, attach, statistics). Then every privilege goes, once, on that only
/// thread. Phase 2 starts the threads, which inherit the drop: the ring reader and the HTTP
/// server on the already bound socket.
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
    var webConfigFile: String?
    var serverConfiguration: HTTPServerConfiguration
    var metricsConfiguration: MetricsConfiguration
    var logLevel: Logger.Level
    var runAsUser: UserAccount?

    init(_ arguments: ParsedArguments) throws(UsageError) {
        kernel = try KernelFlags(arguments)
        // Counters need no event times: the program then skips the clock read.
        kernel.eventTimestamps = false
        serverConfiguration = HTTPServerConfiguration(
            listenAddress: try arguments.defaultedValue("web.listen-address", accepts: "host:port") {
                try ListenAddress(parsing: $0)
            },
            telemetryPath: try arguments.defaultedValue("web.telemetry-path", accepts: "a path") { $0 })
        metricsConfiguration = MetricsConfiguration(
            labels: try arguments.defaultedValue("metrics.labels", accepts: "label names") {
                try FlowLabelSelection(parsing: $0)
            },
            maximumSeries: try arguments.defaultedInteger("metrics.max-series", in: 0...MetricsConfiguration.seriesLimit))
        logLevel = try arguments.defaultedChoice("log.level", Logger.Level.self)
        webConfigFile = arguments.value("web.config.file")
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

        // Phase 1: privileged, this thread alone.
        let socket: BPFSyscall.FileDescriptor
        do {
            socket = try MetricsHTTPServer.bind(serverConfiguration.listenAddress)
        } catch {
            throw commandFailure(error)
        }
        var steps = StartupSteps()
        let table = FlowTable(selection: metricsConfiguration.labels, maximumSeries: metricsConfiguration.maximumSeries)
        let session = try kernel.openSession(sink: table, steps: &steps)
        // For `make bench` (exec -> attached): the clock is the one a launcher can read before exec.
        logger.debug("program attached", metadata: ["attached_monotonic_ns": "\(MonotonicClock.nanoseconds())"])
        let dropped: Privileges.Outcome
        do {
            dropped = try Privileges.dropAll(switchingTo: runAsUser)
        } catch {
            session.close()
            throw commandFailure(error)
        }

        // Phase 2: the threads, each inheriting the drop.
        let poller = session.poller
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
            session.close()
            throw commandFailure(error)
        }
        let attribution = WorkloadAttribution.start(attachment: session.binding.choice.attachment)
        let state = ExporterState(
            configuration: metricsConfiguration, buildInfo: BuildInfo(version: RetransExporter.version),
            source: KernelScrapeSource(poller: poller, binding: session.binding,
                                       runtimeStatisticsHeld: session.runtimeStatistics != nil,
                                       namespaceTasks: session.namespaceTaskReader),
            cgroupResolver: attribution.resolver)
        let server: MetricsHTTPServer
        do {
            server = try MetricsHTTPServer(socket: socket, configuration: serverConfiguration, state: state,
                                           buildVersion: RetransExporter.version, logger: logger)
        } catch {
            session.close(); ringThread.join()
            throw commandFailure(error)
        }

        logger.info("""
            attached \(session.binding.program.name) to \(session.attachment.description); \
            \(session.ringsDescription); object \(session.objectOrigin); \
            failed retransmissions \(session.tracepointHasErr ? "reported apart" : "not reported by this kernel"); \
            serving \(serverConfiguration.web?.tls == nil ? "http" : "https")://\(serverConfiguration.listenAddress)\(serverConfiguration.telemetryPath)
            """)
        if !session.automaticChoices.isEmpty {
            logger.info("chose \(session.binding.choice) automatically: \(session.automaticChoices.joined(separator: "; "))")
        }
        for warning in session.object.warnings { logger.warning("\(warning)") }
        for notice in attribution.notices { logger.notice("\(notice)") }
        for step in steps.steps {
            if case .degraded(let text) = step.outcome { logger.notice("\(text)") }
            logger.debug("start-up step \(step.name) took \(step.duration)")
        }
        do {
            try Privileges.verifyAllThreads(after: dropped)
            logger.info("\(dropped); every thread checked in /proc/self/task")
        } catch {
            server.shutdown(); session.close(); ringThread.join()
            throw commandFailure(error)
        }

        let signal = TerminationSignals.wait()
        logger.info("signal \(signal): detaching and stopping")
        server.shutdown()
        session.close()
        ringThread.join()
    }
}
