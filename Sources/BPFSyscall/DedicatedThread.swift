#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A POSIX thread of its own, for work that blocks in the kernel (`epoll_wait`)
/// and must not occupy a thread of Swift's cooperative pool.
public final class DedicatedThread: Sendable {
    private let thread: pthread_t
    private let joined = Mutex(false)

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread; `name` says which one in errors.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(DedicatedThreadError) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            let body = Unmanaged<Body>.fromOpaque(context).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw DedicatedThreadError(name: name, errno: result)
        }
        self.thread = thread
    }

    /// Waits for the body to return. Later calls return at once.
    public func join() {
        let thread = self.thread
        joined.withLock { joined in
            guard !joined else { return }
            joined = true
            _ = pthread_join(thread, nil)
        }
    }

    deinit {
        // A thread never joined must not stay joinable forever.
        if !joined.withLock({ $0 }) { _ = pthread_detach(thread) }
    }
}

public struct DedicatedThreadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var errno: Int32

    public var description: String {
        "cannot start thread \(name): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
