import NIOCore
import NIOHTTP1
import NIOPosix

/// Per request: the configured response headers, the rate limit, and basic auth.
///
/// bcrypt costs tens of milliseconds, so the check runs on the auth thread (never on the event
/// loop); the request waits, its later parts held back, and goes on to the request handler
/// once accepted. Refused: 401 with `WWW-Authenticate: Basic`, the same for a wrong password,
/// an unknown user and no credentials. The configuration is taken anew at every request, so a
/// kept-alive scraper sees a changed user list at its next scrape.
final class WebAccessHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
        /// Parts go through.
        case passing
        /// Credentials being checked: parts wait in `held`.
        case verifying
        /// The request was answered here: its remaining parts are dropped.
        case refused
    }

    /// nil without --web.config.file: only the compression policy is kept.
    private let source: WebConfigurationSource?
    private let authThread: NIOThreadPool
    private let compression: CompressionPolicy
    private var phase = Phase.passing
    private var held: [HTTPServerRequestPart] = []
    /// The headers for the response to the current request.
    private var extraHeaders: [(name: String, value: String)] = []

    init(source: WebConfigurationSource?, authThread: NIOThreadPool, compression: CompressionPolicy) {
        self.source = source
        self.authThread = authThread
        self.compression = compression
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (phase, part) {
        case (_, .head(let head)):
            phase = .passing
            held.removeAll()
            admit(head, context: context)
        case (.passing, _):
            context.fireChannelRead(data)
        case (.verifying, _):
            held.append(part)
        case (.refused, .end):
            phase = .passing
        case (.refused, .body):
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data), !extraHeaders.isEmpty else {
            context.write(data, promise: promise)
            return
        }
        for (name, value) in extraHeaders { head.headers.replaceOrAdd(name: name, value: value) }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }

    private func admit(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        compression.requestIsHEAD = head.method == .HEAD
        guard let source else {
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        guard let active = source.current() else {
            extraHeaders = []
            refuse(head, .internalServerError, "the web configuration file does not load; see the exporter's log\n",
                   keepAlive: false, context: context)
            return
        }
        extraHeaders = active.loaded.configuration.headers
        if let limiter = active.rateLimiter, !limiter.allow() {
            refuse(head, .tooManyRequests, "too many requests\n", keepAlive: false, context: context)
            return
        }
        guard active.verifier.isEnabled else {
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        phase = .verifying
        let credentials = head.headers.first(name: "Authorization").flatMap(BasicAuthVerifier.credentials(fromHeader:))
        let verifier = active.verifier
        authThread.runIfActive(eventLoop: context.eventLoop) { verifier.verify(credentials) }
            .assumeIsolated().whenComplete { result in
                guard case .verifying = self.phase, context.channel.isActive else { return }
                guard case .success(true) = result else {
                    self.refuse(head, .unauthorized, "401 Unauthorized\n", keepAlive: head.isKeepAlive,
                                extraHeaders: [("WWW-Authenticate", "Basic realm=\"retrans-exporter\", charset=\"UTF-8\"")],
                                context: context)
                    if self.held.contains(where: { if case .end = $0 { true } else { false } }) { self.phase = .passing }
                    self.held.removeAll()
                    return
                }
                self.phase = .passing
                context.fireChannelRead(self.wrapInboundOut(.head(head)))
                let held = self.held
                self.held.removeAll()
                for part in held { context.fireChannelRead(self.wrapInboundOut(part)) }
                context.fireChannelReadComplete()
            }
    }

    /// Answers the request here (the request handler never sees it).
    private func refuse(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ text: String, keepAlive: Bool,
        extraHeaders: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        phase = .refused
        context.triggerUserOutboundEvent(HTTPConnectionEvent.requestHeadReceived, promise: nil)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        write(context: context, data: wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status,
                                                                             headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { result in
            if keepAlive, case .success = result {
                context.triggerUserOutboundEvent(HTTPConnectionEvent.responseComplete, promise: nil)
            } else {
                context.close(promise: nil)
            }
        }
    }
}

/// Shared by a connection's access handler and its response compressor: HEAD responses are
/// never compressed (the compressor cannot know the method, and would write a gzip trailer as
/// the body of a response that must have none).
final class CompressionPolicy {
    var requestIsHEAD = false
}
