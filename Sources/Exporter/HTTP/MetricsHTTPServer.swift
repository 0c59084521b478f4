import BPFSyscall
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP side of the exporter: `/metrics`, the landing page, nothing else.
///
/// One event-loop thread (the traffic is a scrape every few seconds; one thread keeps RSS low)
/// and one scrape thread (rendering stays off the event loop; see `ScrapeCoordinator`).
/// It serves on a socket bound before it starts (`ListeningSocket`, in start-up's privileged
/// phase, before any thread exists); its threads start only once privileges are gone.
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

    /// Binds `configuration.listenAddress` and serves on it: for tests, which have no
    /// privileged phase. Throws `HTTPServerError` (e.g. "cannot listen on :2112: address
    /// already in use (...)") when the address cannot be bound.
    convenience init(configuration: HTTPServerConfiguration, state: ExporterState, buildVersion: String = "",
                     logger: Logger = Logger(label: "retrans-exporter.http")) throws {
        try self.init(socket: try Self.bind(configuration.listenAddress), configuration: configuration,
                      state: state, buildVersion: buildVersion, logger: logger)
    }

    /// A listening socket for `address` (the privileged phase does this before anything else,
    /// so that a busy port fails before anything is loaded into the kernel).
    static func bind(_ address: ListenAddress) throws(HTTPServerError) -> BPFSyscall.FileDescriptor {
        do throws(ListenError) {
            return try ListeningSocket.open(host: address.host, port: UInt16(clamping: address.port))
        } catch {
            throw HTTPServerError.bindFailed(address, error)
        }
    }

    /// Starts serving on `socket`, which is bound and listening (see `bind`); the server owns
    /// it from now on. Nothing keeps running after a throw.
    init(socket: consuming BPFSyscall.FileDescriptor, configuration: HTTPServerConfiguration, state: ExporterState,
         buildVersion: String = "", logger: Logger = Logger(label: "retrans-exporter.http")) throws {
        try configuration.validate()
        self.configuration = configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let limiter = ConnectionLimiter(limit: configuration.maximumConnections)
        let coordinator = ScrapeCoordinator(state: state, threadPool: threadPool)
        let web = WebLayer(configuration: configuration.web, logger: logger)
        let connection = ConnectionPipeline(configuration: configuration, web: web, coordinator: coordinator,
                                            buildVersion: buildVersion)

        let bootstrap = ServerBootstrap(group: group)
            // tcpOption, not socketOption: at SOL_SOCKET level option 1 is SO_DEBUG, which needs
            // CAP_NET_ADMIN and made every connection fail once privileges were dropped.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard limiter.acquire() else {
                        logger.debug("refusing connection: \(limiter.limit) connections open")
                        try channel.pipeline.syncOperations.addHandler(ConnectionRefusalHandler())
                        return
                    }
                    channel.closeFuture.whenComplete { _ in limiter.release() }
                    try connection.addHandlers(to: channel)
                }
            }

        let descriptor = socket.release()
        do {
            channel = try bootstrap.withBoundSocket(descriptor).wait()
        } catch {
            // The descriptor is NIO's now (it closes it with the channel it made, if any); this
            // only happens on the way out, so it is not closed here a second time.
            try? threadPool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            web.shutdown()
            throw HTTPServerError.startFailed(configuration.listenAddress, error)
        }
        self.group = group
        self.threadPool = threadPool
        self.limiter = limiter
        self.coordinator = coordinator
        self.web = web
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
