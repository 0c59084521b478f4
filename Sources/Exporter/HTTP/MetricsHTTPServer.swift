import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP side of the exporter: `/metrics`, the landing page, nothing else.
///
/// One event-loop thread (the traffic is a scrape every few seconds; one thread keeps RSS low)
/// and one scrape thread (rendering stays off the event loop; see `ScrapeCoordinator`).
final class MetricsHTTPServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool
    private let channel: any Channel
    private let coordinator: ScrapeCoordinator
    private let web: WebLayer
    let configuration: HTTPServerConfiguration
    let limiter: ConnectionLimiter

    /// The bound address (with the real port when the configuration asked for port 0).
    var localAddress: SocketAddress? { channel.localAddress }

    /// Binds and starts serving. Throws `HTTPServerConfigurationError` for a bad configuration
    /// and `HTTPServerError` (e.g. "cannot listen on :2112: address already in use (...)") when
    /// the address cannot be bound; nothing keeps running after a throw.
    init(configuration: HTTPServerConfiguration, state: ExporterState, buildVersion: String = "",
         logger: Logger = Logger(label: "retrans-exporter.http")) throws {
        try configuration.validate()
        self.configuration = configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let limiter = ConnectionLimiter(limit: configuration.maximumConnections)
        let coordinator = ScrapeCoordinator(state: state, threadPool: threadPool)
        let web = WebLayer(configuration: configuration.web, logger: logger)
        let landingPage = configuration.telemetryPath == "/"
            ? nil : LandingPage.html(telemetryPath: configuration.telemetryPath, version: buildVersion)

        let limits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = configuration.maximumHeaderBytes
            limits.maxHeaderFieldSize = configuration.maximumHeaderBytes
            limits.maxHeaderFieldCount = 100
            return limits
        }()

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // tcpOption, not socketOption: at SOL_SOCKET level option 1 is SO_DEBUG, which needs
            // CAP_NET_ADMIN and made every connection fail once privileges were dropped.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    guard limiter.acquire() else {
                        logger.debug("refusing connection: \(limiter.limit) connections open")
                        try pipeline.addHandler(ConnectionRefusalHandler())
                        return
                    }
                    channel.closeFuture.whenComplete { _ in limiter.release() }
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

        do {
            channel = try Self.bind(bootstrap, configuration.listenAddress)
        } catch {
            try? threadPool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            web.shutdown()
            throw HTTPServerError.bindFailed(configuration.listenAddress, error)
        }
        self.group = group
        self.threadPool = threadPool
        self.limiter = limiter
        self.coordinator = coordinator
        self.web = web
    }

    /// `:port` binds the IPv6 wildcard, which takes IPv4 too (dual stack); where IPv6 is off,
    /// the IPv4 wildcard.
    private static func bind(_ bootstrap: ServerBootstrap, _ address: ListenAddress) throws -> any Channel {
        if let host = address.host {
            return try bootstrap.bind(host: host, port: address.port).wait()
        }
        do {
            return try bootstrap.bind(host: "::", port: address.port).wait()
        } catch let error as IOError where error.errnoCode == EAFNOSUPPORT || error.errnoCode == EADDRNOTAVAIL {
            return try bootstrap.bind(host: "0.0.0.0", port: address.port).wait()
        }
    }

    /// Stops accepting, closes every connection (a scrape being streamed is cut short), stops
    /// the threads. Call once, not from the event loop. Returns within a render's time.
    func shutdown() {
        coordinator.stop()
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        try? threadPool.syncShutdownGracefully()
        web.shutdown()
    }
}
