import NIOCore
import NIOHTTP1

/// Routes one connection's requests: the telemetry path, the landing page, 404, 405, 413.
///
/// Requests arrive one at a time (NIO's pipelining handler holds the next one back until the
/// response to this one has ended).
final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let telemetryPath: String
    private let landingPage: ByteBuffer?
    private let coordinator: ScrapeCoordinator
    private let responseTimeout: TimeAmount
    private var active = true
    /// Set after a response that ends the connection: whatever else arrives is ignored.
    private var closing = false

    init(telemetryPath: String, landingPage: String?, coordinator: ScrapeCoordinator, responseTimeout: TimeAmount) {
        self.telemetryPath = telemetryPath
        self.landingPage = landingPage.map { ByteBuffer(string: $0) }
        self.coordinator = coordinator
        self.responseTimeout = responseTimeout
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        context.fireChannelInactive()
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
        coordinator.body(on: context.eventLoop).assumeIsolated().whenComplete { result in
            guard self.active else { return }
            switch result {
            case .success(let body):
                self.respond(.ok, body: body, contentType: ExpositionWriter.contentType, head: head,
                             keepAlive: keepAlive, context: context)
            case .failure:
                self.respond(.serviceUnavailable, text: "exporter is shutting down\n", head: head,
                             keepAlive: false, context: context)
            }
        }
    }

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
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
            closing = true
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        // A client that does not take the response in time is cut off.
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: responseTimeout) {
            context.close(promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { result in
            deadline.cancel()
            guard self.active else { return }
            if keepAlive, case .success = result {
                context.triggerUserOutboundEvent(HTTPConnectionEvent.responseComplete, promise: nil)
            } else {
                context.close(promise: nil)
            }
        }
    }
}
