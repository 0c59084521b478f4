/// An open file descriptor that this process owns: a BPF map, program, link,
/// BTF object, stats handle or perf event. It closes exactly once: when its
/// owner consumes it with `close()`, or when the value goes out of scope.
///
/// `~Copyable`, so two owners can never close the same number (the second
/// close would hit whatever file reused it). To keep one inside a collection,
/// wrap it in a final class (as `LoadedMap` and `LoadedProgram` do).
public struct FileDescriptor: ~Copyable, Sendable {
    /// The kernel's number for it. Valid while this value lives; never close it yourself.
    public let rawValue: Int32

    /// Takes ownership of `rawValue`, which must be an open descriptor nobody else closes.
    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit {
        Syscalls.closeIgnoringErrors(rawValue)
    }

    /// Closes now instead of at the end of scope.
    public consuming func close() {
        Syscalls.closeIgnoringErrors(rawValue)
        discard self
    }

    /// Gives up ownership without closing: the caller now owns the number.
    public consuming func release() -> Int32 {
        let raw = rawValue
        discard self
        return raw
    }
}
