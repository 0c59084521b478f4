import NIOCore
import NIOHTTP1

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
}
