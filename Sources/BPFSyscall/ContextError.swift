/// An error with the step that failed in front of it, so a message reads
/// "load program tcp_retransmit_skb: map relocation at instruction 12: unknown map `events`".
public struct ContextError: Error, Sendable, CustomStringConvertible {
    /// The step, e.g. "load program `tcp_retransmit_skb`".
    public var context: String
    public var underlying: any Error

    public init(_ context: String, _ underlying: any Error) {
        self.context = context
        self.underlying = underlying
    }

    public var description: String { "\(context): \(underlying)" }

    /// The innermost error, below every layer of context.
    public var rootCause: any Error {
        var error: any Error = underlying
        while let wrapped = error as? ContextError { error = wrapped.underlying }
        return error
    }
}

/// Runs `body`, putting `context` in front of any error it throws.
public func withContext<T: ~Copyable>(_ context: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw ContextError(context(), error)
    }
}

extension Error {
    /// The innermost error of a `ContextError` chain (the error itself otherwise).
    public var rootCause: any Error {
        (self as? ContextError)?.rootCause ?? self
    }
}
