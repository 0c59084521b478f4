import NIOCore
import NIOHTTP1

/// Routes one connection's requests: the telemetry path, the landing page, 404, 405, 413.
///
/// Requests arrive one at a time (NIO's pipelining handler holds the next one back until the
/// response to this one has ended). Every write has a deadline: a client that does not take a
/// response (or a chunk of one) within `writeTimeout` is disconnected.
final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let telemetryPath: String
    private let landingPage: ByteBuffer?
    private let coordinator: ScrapeCoordinator
    private let writeTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    /// Set after a response that ends the connection: whatever else arrives is ignored.
    private var closing = false
    /// The metrics response being streamed.
    private var stream: (head: HTTPRequestHead, keepAlive: Bool, headSent: Bool)?
    /// The format of the current metrics response (from the request's `Accept`).
    private var format = ExpositionFormat.prometheusText

    init(telemetryPath: String, landingPage: String?, coordinator: ScrapeCoordinator, writeTimeout: TimeAmount) {
        self.telemetryPath = telemetryPath
        self.landingPage = landingPage.map { ByteBuffer(string: $0) }
        self.coordinator = coordinator
        self.writeTimeout = writeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !closing else { return }
        context.triggerUserOutboundEvent(HTTPConnectionEvent.requestHeadReceived, promise: nil)
        route(head, context: context)
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first
            .map(String.init) ?? head.uri
        let isMetrics = path == telemetryPath
        let isLanding = path == "/" && landingPage != nil
        let keepAlive = head.isKeepAlive && !Self.hasBody(head)

        guard isMetrics || isLanding else {
            respond(.notFound, text: "404 page not found\n", head: head, keepAlive: keepAlive, context: context)
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            respond(.methodNotAllowed, text: "method \(head.method.rawValue) not allowed; use GET or HEAD\n",
                    head: head, keepAlive: false, extraHeaders: [("Allow", "GET, HEAD")], context: context)
            return
        }
        guard !Self.hasBody(head) else {
            respond(.payloadTooLarge, text: "\(head.method.rawValue) requests must not have a body\n",
                    head: head, keepAlive: false, context: context)
            return
        }
        if isLanding, let landingPage {
            respond(.ok, body: landingPage, contentType: "text/html; charset=utf-8", head: head,
                    keepAlive: keepAlive, context: context)
            return
        }
        format = ExpositionFormat.negotiate(accept: head.headers["Accept"])
        if head.method == .HEAD {
            // The length is unknown without rendering, and HEAD carries no body: headers only.
            let response = HTTPResponseHead(version: head.version, status: .ok, headers: metricsHeaders(keepAlive))
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            end(keepAlive: keepAlive, context: context)
            return
        }
        stream = (head, keepAlive, false)
        coordinator.enqueue(ScrapeCoordinator.Waiter(
            eventLoop: context.eventLoop, handler: NIOLoopBound(self, eventLoop: context.eventLoop), format: format))
    }

    // MARK: streamed metrics (called on the event loop by the coordinator)

    /// Writes one chunk (after the head, the first time); the future completes when the client
    /// has taken it, or fails when the connection is gone or too slow.
    func sendChunk(_ chunk: ByteBuffer, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let context, var stream else {
            return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        if !stream.headSent {
            let response = HTTPResponseHead(
                version: stream.head.version, status: .ok, headers: metricsHeaders(stream.keepAlive))
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            stream.headSent = true
            self.stream = stream
        }
        return withDeadline(context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))), context: context)
    }

    /// Ends a streamed response.
    func finishStream() {
        guard let context, let stream else { return }
        self.stream = nil
        if !stream.headSent {
            let response = HTTPResponseHead(
                version: stream.head.version, status: .ok, headers: metricsHeaders(stream.keepAlive))
            context.write(wrapOutboundOut(.head(response)), promise: nil)
        }
        end(keepAlive: stream.keepAlive, context: context)
    }

    /// The scrape could not run (shutting down).
    func scrapeFailed() {
        guard let context, let stream else { return }
        self.stream = nil
        if stream.headSent {
            context.close(promise: nil)
        } else {
            respond(.serviceUnavailable, text: "exporter is shutting down\n", head: stream.head, keepAlive: false,
                    context: context)
        }
    }

    private func metricsHeaders(_ keepAlive: Bool) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: format.contentType)
        // The body depends on these request headers (for caches between scraper and exporter).
        headers.add(name: "Vary", value: "Accept, Accept-Encoding")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return headers
    }

    // MARK: whole responses

    /// Content-Length > 0 or a transfer coding: this server takes no request bodies.
    private static func hasBody(_ head: HTTPRequestHead) -> Bool {
        if head.headers.contains(name: "Transfer-Encoding") { return true }
        return head.headers["Content-Length"].contains { Int($0) != 0 }
    }

    private func respond(
        _ status: HTTPResponseStatus, text: String, head: HTTPRequestHead, keepAlive: Bool,
        extraHeaders: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        respond(status, body: ByteBuffer(string: text), contentType: "text/plain; charset=utf-8", head: head,
                keepAlive: keepAlive, extraHeaders: extraHeaders, context: context)
    }

    private func respond(
        _ status: HTTPResponseStatus, body: ByteBuffer, contentType: String, head: HTTPRequestHead,
        keepAlive: Bool, extraHeaders: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        end(keepAlive: keepAlive, context: context)
    }

    /// Writes the end of a response; then the connection is idle again or closes.
    private func end(keepAlive: Bool, context: ChannelHandlerContext) {
        if !keepAlive { closing = true }
        withDeadline(context.writeAndFlush(wrapOutboundOut(.end(nil))), context: context)
            .assumeIsolated().whenComplete { result in
                guard self.context != nil else { return }
                if keepAlive, case .success = result {
                    context.triggerUserOutboundEvent(HTTPConnectionEvent.responseComplete, promise: nil)
                } else {
                    context.close(promise: nil)
                }
            }
    }

    /// Closes the connection unless `write` completes within the write timeout.
    @discardableResult
    private func withDeadline(_ write: EventLoopFuture<Void>, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: writeTimeout) {
            context.close(promise: nil)
        }
        write.whenComplete { _ in deadline.cancel() }
        return write
    }
}
