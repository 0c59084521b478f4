import NIOCore
import NIOPosix
import Synchronization

/// Runs scrapes on a thread of their own and shares each result among the requests that
/// waited for it.
///
/// - Rendering (and `MetricsSource.prepareScrape`, which may wait for a ring drain) never runs
///   on the event loop, so accepting, timeouts and other connections keep going meanwhile.
/// - One scrape at a time. Requests that arrive during a scrape wait for the *next* one, which
///   starts as soon as the current one ends and serves all of them: every response reflects
///   counts taken after its request arrived, and 500 simultaneous scrapes cost a couple of
///   renders, not 500. The body is one `ByteBuffer` shared by all responses (no copies).
final class ScrapeCoordinator: Sendable {
    private struct Queue {
        var waiting: [EventLoopPromise<ByteBuffer>] = []
        var running = false
    }

    private let state: ExporterState
    private let threadPool: NIOThreadPool
    private let queue = Mutex(Queue())

    init(state: ExporterState, threadPool: NIOThreadPool) {
        self.state = state
        self.threadPool = threadPool
    }

    /// A body rendered after this call, delivered on `eventLoop`.
    func body(on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        let start = queue.withLock { queue -> Bool in
            queue.waiting.append(promise)
            guard !queue.running else { return false }
            queue.running = true
            return true
        }
        if start { runNext(on: eventLoop) }
        return promise.futureResult
    }

    private func runNext(on eventLoop: any EventLoop) {
        let batch = queue.withLock { queue -> [EventLoopPromise<ByteBuffer>] in
            defer { queue.waiting.removeAll() }
            return queue.waiting
        }
        let state = self.state
        threadPool.runIfActive(eventLoop: eventLoop) { state.scrape() }.whenComplete { result in
            for promise in batch { promise.completeWith(result) }
            let more = self.queue.withLock { queue -> Bool in
                queue.running = !queue.waiting.isEmpty
                return queue.running
            }
            if more { self.runNext(on: eventLoop) }
        }
    }
}
