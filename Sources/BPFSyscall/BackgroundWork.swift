import Synchronization

/// Work started on a thread of its own, whose outcome is collected later.
///
/// Why: most of the load is spent waiting for one thing at a time that does not depend
/// on the others. The kernel's verifier runs in the calling thread and, for a privileged
/// loader, takes no global lock, so programs verified side by side on the host's CPUs
/// take as long as the longest one, not the sum; and the kernel's BTF can be searched
/// while the maps are created.
///
/// Collect every outcome before going on: a thread inherits its creator's credentials,
/// and the exporter drops them only after loading.
final class BackgroundWork<Value: Sendable>: Sendable {
    private final class Slot: Sendable {
        let outcome = Mutex<Result<Value, any Error>?>(nil)
    }
    private let slot = Slot()
    private let thread: DedicatedThread?

    /// Starts `work`; with no thread to spare, does it here and now instead.
    init(name: String, _ work: @escaping @Sendable () throws -> Value) {
        let slot = self.slot
        let body: @Sendable () -> Void = {
            let outcome = Result { try work() }
            slot.outcome.withLock { $0 = outcome }
        }
        if let thread = try? DedicatedThread(name: name, body) {
            self.thread = thread
        } else {
            body()
            self.thread = nil
        }
    }

    /// Waits for the work to finish, and returns what it returned or throws what it threw.
    func value() throws -> Value {
        thread?.join()
        guard let outcome = slot.outcome.withLock({ $0 }) else { throw BackgroundWorkError() }
        return try outcome.get()
    }

    /// Runs `work` once per element, side by side (the first on the calling thread), and
    /// returns the outcomes in the elements' order, after every one has finished.
    static func map<Element: Sendable>(_ elements: [Element], name: String,
                                       _ work: @escaping @Sendable (Element) throws -> Value) -> [Result<Value, any Error>] {
        guard let first = elements.first else { return [] }
        let others = elements.dropFirst().enumerated().map { index, element in
            BackgroundWork(name: "\(name) \(index + 1)") { try work(element) }
        }
        let firstOutcome = Result { try work(first) }
        return [firstOutcome] + others.map { work in Result { try work.value() } }
    }
}

/// Cannot happen: the thread is joined before its outcome is read.
struct BackgroundWorkError: Error, CustomStringConvertible {
    var description: String { "background work ended without an outcome" }
}
