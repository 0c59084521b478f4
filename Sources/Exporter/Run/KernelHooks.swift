import Synchronization

/// What a scrape asks of the kernel side, installed once the kernel side is up.
/// The HTTP server starts first (so a busy port fails before anything is loaded);
/// a scrape in the few milliseconds before `install` sees no kernel numbers.
final class KernelHooks: Sendable {
    private struct Hooks {
        var drain: @Sendable () -> Void
        var statistics: @Sendable () -> KernelStatistics
    }

    private let hooks = Mutex<Hooks?>(nil)

    func install(drain: @escaping @Sendable () -> Void,
                 statistics: @escaping @Sendable () -> KernelStatistics) {
        hooks.withLock { $0 = Hooks(drain: drain, statistics: statistics) }
    }

    /// Reads every ring now, so the scrape is current.
    func drain() {
        hooks.withLock { $0 }?.drain()
    }

    func statistics() -> KernelStatistics {
        hooks.withLock { $0 }?.statistics() ?? KernelStatistics()
    }
}
