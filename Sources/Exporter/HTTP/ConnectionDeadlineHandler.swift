import NIOCore

/// What the request handler tells the deadline handler (as outbound user events).
enum HTTPConnectionEvent: Sendable {
    /// A request's headers are complete: the header deadline no longer applies.
    case requestHeadReceived
    /// A response has been written: the connection is idle again (or reading the next request).
    case responseComplete
}

/// Closes connections that are too slow to send their headers, or idle too long.
///
/// Sits first in the pipeline and sees raw bytes. The header deadline starts at the first byte
/// of a request, not when the connection opens, so an idle kept-alive connection is governed
/// by the idle timeout alone; a client that trickles a byte at a time is still cut off when
/// the header deadline passes, however regularly it sends (an inactivity timer would not be).
final class ConnectionDeadlineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum State {
        /// No request in progress; the idle timer runs.
        case idle
        /// Bytes of a request arrived; its headers must complete before the header deadline.
        case readingHead
        /// Headers complete; the request handler owns the time now.
        case handling(bytesSinceHead: Bool)
    }

    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var state = State.idle
    private var timer: Scheduled<Void>?

    init(headerTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(idleTimeout, context: context)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(idleTimeout, context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .idle:
            state = .readingHead
            arm(headerTimeout, context: context)
        case .readingHead:
            break
        case .handling:
            state = .handling(bytesSinceHead: true)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? HTTPConnectionEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .requestHeadReceived:
            state = .handling(bytesSinceHead: false)
            disarm()
        case .responseComplete:
            // Bytes that came in while the request was handled belong to the next request
            // (pipelined): its headers are already on the clock.
            if case .handling(bytesSinceHead: true) = state {
                state = .readingHead
                arm(headerTimeout, context: context)
            } else {
                state = .idle
                arm(idleTimeout, context: context)
            }
        }
        promise?.succeed(())
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
