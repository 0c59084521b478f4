import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix

/// The handlers of one accepted connection, in order (`WebLayer` says what its part adds):
///
///     deadline → [TLS] → HTTP codec → error responder → [web handlers] → request handler
struct ConnectionPipeline: Sendable {
    let configuration: HTTPServerConfiguration
    let web: WebLayer
    let coordinator: ScrapeCoordinator
    let landingPage: String?
    let limits: NIOHTTPDecoderLimitConfiguration

    init(configuration: HTTPServerConfiguration, web: WebLayer, coordinator: ScrapeCoordinator, buildVersion: String) {
        self.configuration = configuration
        self.web = web
        self.coordinator = coordinator
        landingPage = configuration.telemetryPath == "/"
            ? nil : LandingPage.html(telemetryPath: configuration.telemetryPath, version: buildVersion)
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = configuration.maximumHeaderBytes
        limits.maxHeaderFieldSize = configuration.maximumHeaderBytes
        limits.maxHeaderFieldCount = 100
        self.limits = limits
    }

    func addHandlers(to channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ConnectionDeadlineHandler(
            headerTimeout: configuration.headerTimeout, idleTimeout: configuration.idleTimeout))
        try web.addTransportHandlers(to: channel)
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true, withErrorHandling: false,
            withOutboundHeaderValidation: true,
            withEncoderConfiguration: HTTPResponseEncoder.Configuration(),
            withDecoderLimitConfiguration: limits)
        try pipeline.addHandler(HTTPErrorResponder())
        try web.addHTTPHandlers(to: pipeline)
        try pipeline.addHandler(MetricsRequestHandler(
            telemetryPath: configuration.telemetryPath, landingPage: landingPage,
            coordinator: coordinator, writeTimeout: configuration.writeTimeout))
    }

    /// Builds this pipeline once in memory (an `EmbeddedChannel`: no socket, no thread) and
    /// runs one gzip-accepting request through it, answered 404, and one scrape of an empty
    /// table.
    ///
    /// Why: the Swift runtime resolves generic types and protocol conformances at first use,
    /// and in a static binary a conformance is found by a linear scan of every conformance
    /// record (~3,000 here). A connection's first pipeline and request cost ~7 M instructions
    /// of that, which the first scrape waited for after the attach. `run` does it on a thread
    /// of its own while the kernel verifies the programs; the caches it fills are the process's.
    /// Without TLS and web handlers (they need a handshake or a configuration), and best effort:
    /// a failure here only leaves the first request slower.
    /// Returns the response's status line (a test checks that the request really went through).
    @discardableResult
    static func warmUp(configuration: HTTPServerConfiguration, buildVersion: String) -> String? {
        var plain = configuration
        plain.web = nil
        // Never started: the 404 below renders nothing, so no scrape thread is needed.
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        let state = ExporterState(buildInfo: BuildInfo(version: buildVersion), source: FlowTableSource())
        let connection = ConnectionPipeline(
            configuration: plain, web: WebLayer(configuration: nil, logger: Logger(label: "warm-up")),
            coordinator: ScrapeCoordinator(state: state, threadPool: threadPool), buildVersion: buildVersion)
        let channel = EmbeddedChannel()
        var response = ByteBuffer()
        do {
            try connection.addHandlers(to: channel)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            // Not the telemetry path, whatever it is: a path below it.
            let path = configuration.telemetryPath + (configuration.telemetryPath.hasSuffix("/") ? "" : "/") + "warm-up"
            try channel.writeInbound(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: warm-up\r\n"
                + "Accept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n\r\n"))
            while let part = try channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(var buffer) = part { response.writeBuffer(&buffer) }
            }
        } catch {
            // Best effort; the status line below stays nil.
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        _ = ExpositionFormat.negotiate(accept: ["application/openmetrics-text;version=1.0.0;q=0.6"])
        _ = state.scrape()
        let text = String(buffer: response)
        return text.split(separator: "\r\n", maxSplits: 1).first.map(String.init)
    }
}
