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

/// A descriptor reachable through several references (a `LoadedMap` handed to
/// a ring reader, say) that its owner still closes for everyone, once: after
/// `close()`, `rawValue` is -1 and calls made with it fail with EBADF.
/// Close only after the users have stopped: a number closed under a running
/// call could be reused by the next open.
public final class SharedFileDescriptor: Sendable {
    private let slot: Mutex<FileDescriptor?>

    public init(_ fd: consuming FileDescriptor) {
        slot = Mutex(Optional(fd))
    }

    /// The descriptor's number, or -1 once closed.
    public var rawValue: Int32 { slot.withLock { $0?.rawValue ?? -1 } }

    public var isClosed: Bool { rawValue < 0 }

    /// Closes now; later calls do nothing.
    public func close() {
        let fd = slot.withLock { $0.take() }
        fd?.close()
    }
}

import Synchronization
