import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import NIOPosix
import NIOSSL
import NIOTLS

/// What `--web.config.file` and content negotiation add to each connection's pipeline:
///
///     deadline → [TLS → client SAN check] → HTTP codec → error responder
///              → gzip/deflate compressor → access (headers, rate limit, basic auth) → request handler
///
/// `MetricsHTTPServer` calls `addTransportHandlers` after its deadline handler (so the TLS
/// handshake counts against the header deadline) and `addHTTPHandlers` after the HTTP codec.
final class WebLayer: Sendable {
    let source: WebConfigurationSource?
    /// bcrypt off the event loop; started only when basic auth can be configured.
    private let authThread: NIOThreadPool
    private let logger: Logger

    init(configuration: LoadedWebConfiguration?, logger: Logger) {
        source = configuration.map { WebConfigurationSource($0, logger: logger) }
        authThread = NIOThreadPool(numberOfThreads: 1)
        if source != nil { authThread.start() }
        self.logger = logger
    }

    var usesTLS: Bool { source?.usesTLS ?? false }

    /// TLS, when configured, with the certificate as the files are now.
    func addTransportHandlers(to channel: any Channel) throws {
        guard let source, source.usesTLS else { return }
        guard let tls = source.current()?.loaded.tls else {
            // Fail closed: the configuration does not load now (logged by the source).
            channel.close(promise: nil)
            return
        }
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(tls.makeHandler())
        if let sans = tls.allowedSANs {
            try pipeline.addHandler(ClientSANCheckHandler(allowed: sans, logger: logger))
        }
    }

    func addHTTPHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws {
        let policy = CompressionPolicy()
        // HTTP/1.0 is not compressed: the compressor would mark a streamed body chunked, which
        // HTTP/1.0 does not have (the body would reach the client chunk-framed).
        try pipeline.addHandler(HTTPResponseCompressor(initialByteBufferCapacity: 0) { head, _ in
            policy.requestIsHEAD || head.version == .http1_0 ? .doNotCompress : .compressIfPossible
        })
        try pipeline.addHandler(WebAccessHandler(source: source, authThread: authThread, compression: policy))
    }

    func shutdown() {
        if source != nil { try? authThread.syncShutdownGracefully() }
    }
}

/// `client_allowed_sans`: after the handshake (which verified the chain against client_ca),
/// the client certificate must name one of them (DNS, e-mail, IP or URI SAN), else the
/// connection is closed before any request, as exporter-toolkit's VerifyPeerCertificate does.
final class ClientSANCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let allowed: Set<String>
    private let logger: Logger

    init(allowed: [String], logger: Logger) {
        self.allowed = Set(allowed)
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
            let names = certificate.map(Self.subjectAlternativeNames) ?? []
            guard names.contains(where: allowed.contains) else {
                logger.info("closing a TLS connection: its client certificate names none of client_allowed_sans (it names \(names))")
                context.close(promise: nil)
                return
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    static func subjectAlternativeNames(_ certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name -> String? in
            let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
            switch name.nameType {
            case .dnsName, .email, .uri:
                return String(decoding: bytes, as: UTF8.self)
            case .ipAddress:
                return Self.ipText(bytes)
            default:
                return nil
            }
        }
    }

    private static func ipText(_ bytes: [UInt8]) -> String? {
        let address: IPAddress
        if bytes.count == 4 {
            address = IPAddress(ipv4: bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        } else if let v6 = IPAddress(bytes: bytes) {
            address = v6
        } else {
            return nil
        }
        var text = [UInt8](repeating: 0, count: IPAddressText.maximumLength)
        let length = text.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { IPAddressText.write(address, to: $0) } ?? 0
        }
        return String(decoding: text.prefix(length), as: UTF8.self)
    }
}
