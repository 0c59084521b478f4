import NIOCore
import NIOPosix
import Synchronization

/// Runs scrapes on a thread of their own and streams each one to every request that waited
/// for it.
///
/// - Rendering (and the ring drain a scrape starts with) never runs
///   on the event loop, so accepting, timeouts and other connections keep going meanwhile.
/// - One scrape at a time. Requests that arrive during a scrape wait for the *next* one, which
///   starts as soon as the current one ends and serves all of them: every response reflects
///   counts taken after its request arrived, and 500 simultaneous scrapes cost a few renders,
///   not 500.
/// - The body is streamed in chunks of `chunkBytes` (chunked transfer encoding): the next chunk
///   is rendered once every waiting client has taken the last one, so memory stays at a chunk
///   or two at any number of series. A client that does not take a chunk within the write
///   timeout is disconnected (by its handler) and the others carry on.
final class ScrapeCoordinator: Sendable {
    static let chunkBytes = 256 * 1024

    /// A request waiting for an exposition. Its handler is used on its own event loop only.
    struct Waiter: Sendable {
        let eventLoop: any EventLoop
        let handler: NIOLoopBound<MetricsRequestHandler>
        /// What its `Accept` header chose; a batch renders once per format asked for.
        var format: ExpositionFormat = .prometheusText
    }

    private struct Queue {
        var waiting: [Waiter] = []
        var running = false
    }

    private let state: ExporterState
    private let threadPool: NIOThreadPool
    private let queue = Mutex(Queue())
    /// Set at shutdown: no more writes are handed to event loops that are going away.
    private let stopping = Atomic<Bool>(false)

    init(state: ExporterState, threadPool: NIOThreadPool) {
        self.state = state
        self.threadPool = threadPool
    }

    /// Stops handing chunks to clients (the server is shutting down).
    func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    /// Streams the next exposition to `waiter` (see the type's description).
    func enqueue(_ waiter: Waiter) {
        let start = queue.withLock { queue -> Bool in
            queue.waiting.append(waiter)
            guard !queue.running else { return false }
            queue.running = true
            return true
        }
        if start { runNext() }
    }

    private func runNext() {
        let batch = queue.withLock { queue -> [Waiter] in
            defer { queue.waiting.removeAll() }
            return queue.waiting
        }
        threadPool.submit { workState in
            if case .active = workState {
                for format in [ExpositionFormat.prometheusText, .openMetrics] {
                    let waiters = batch.filter { $0.format == format }
                    if !waiters.isEmpty { self.stream(to: waiters, format: format) }
                }
            } else {
                for waiter in batch {
                    waiter.eventLoop.execute { waiter.handler.value.scrapeFailed() }
                }
            }
            let more = self.queue.withLock { queue -> Bool in
                queue.running = !queue.waiting.isEmpty
                return queue.running
            }
            if more { self.runNext() }
        }
    }

    /// On the scrape thread: render, and hand each chunk to every client still there.
    private func stream(to batch: [Waiter], format: ExpositionFormat) {
        var live = batch
        state.scrape(chunkBytes: Self.chunkBytes, format: format) { chunk in
            if stopping.load(ordering: .relaxed) { live.removeAll() }
            guard !live.isEmpty else { return }
            let writes = live.map { waiter in
                waiter.eventLoop.flatSubmit { waiter.handler.value.sendChunk(chunk, on: waiter.eventLoop) }
            }
            // Each write completes or fails within the handler's write timeout.
            live = zip(live, writes).compactMap { waiter, write in
                (try? write.wait()) == nil ? nil : waiter
            }
        }
        for waiter in live {
            waiter.eventLoop.execute { waiter.handler.value.finishStream() }
        }
    }
}
