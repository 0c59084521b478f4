import NIOCore
import NIOHTTP1

/// Answers requests the HTTP decoder rejects, then closes the connection: 431 when the request
/// line and headers exceed the limit, 400 for anything else malformed.
///
/// Replaces NIO's `HTTPServerProtocolErrorHandler`, which answers 400 to everything. Like it,
/// it answers only when no response is under way (the pipelining handler holds parse errors
/// back until the current response ends).
final class HTTPErrorResponder: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false
    private var closing = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !closing else { return }
        closing = true
        guard let parserError = error as? HTTPParserError, !responseInProgress else {
            context.close(promise: nil)
            return
        }
        let status: HTTPResponseStatus
        let message: String
        if case .headerOverflow = parserError {
            status = .requestHeaderFieldsTooLarge
            message = "request line and headers are too large\n"
        } else {
            status = .badRequest
            message = "malformed HTTP request\n"
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(message.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: message)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            responseInProgress = true
        case .end:
            responseInProgress = false
        default:
            break
        }
        context.write(data, promise: promise)
    }
}
