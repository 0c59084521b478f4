#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM, taken synchronously: blocked in every thread (call `block()`
/// before any thread starts, so they all inherit the mask) and received by `wait()`.
/// No handler runs at an arbitrary point, so shutdown is ordinary code.
enum TerminationSignals {
    static func block() {
        var set = signalSet()
        // SETMASK, not BLOCK: a mask inherited from the parent would otherwise block other
        // signals in every thread, including the one that drops privileges on each thread.
        pthread_sigmask(SIG_SETMASK, &set, nil)
        // A scrape client that hangs up must not kill the process.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Blocks until SIGINT or SIGTERM arrives; returns its number.
    static func wait() -> Int32 {
        var set = signalSet()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }
}
