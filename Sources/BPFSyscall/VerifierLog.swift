#if canImport(Glibc)
import Glibc
#endif

/// How big a verifier log may get. The first load runs without a log (fast,
/// no buffer); only a failure is retried with one, which grows on ENOSPC.
public struct VerifierLogSizes: Sendable, Equatable {
    public var initial: Int
    public var maximum: Int

    public init(initial: Int = 64 << 10, maximum: Int = 16 << 20) {
        self.initial = max(1, initial)
        self.maximum = max(self.initial, maximum)
    }
}

extension Syscalls {
    /// `BPF_PROG_LOAD`, retried with a verifier log on failure.
    /// Throws `VerifierError` when the kernel explains the rejection, `SyscallError` otherwise.
    /// `displayName` names the program in errors (the request's name is cut to the kernel's 15 bytes).
    public func loadProgram(_ request: ProgramLoadRequest, displayName: String? = nil,
                            logSizes: VerifierLogSizes = VerifierLogSizes()) throws -> FileDescriptor {
        let subject = "program `\(displayName ?? request.name)`"
        return try loadWithLog(call: "BPF_PROG_LOAD", subject: subject, logSizes: logSizes) {
            programLoad(request, $0, &$1)
        }
    }

    /// `BPF_BTF_LOAD`, retried with a log on failure (the log says which type the kernel refused).
    public func loadBTF(_ bytes: [UInt8], logSizes: VerifierLogSizes = VerifierLogSizes()) throws -> FileDescriptor {
        try loadWithLog(call: "BPF_BTF_LOAD", subject: "BTF", logSizes: logSizes) {
            btfLoad(bytes, $0, &$1)
        }
    }

    /// The retry policy shared by both loads.
    private func loadWithLog(call: String, subject: String, logSizes: VerifierLogSizes,
                             load: (_ logLevel: UInt32, _ log: inout [UInt8]) -> Int32) throws -> FileDescriptor {
        var noLog: [UInt8] = []
        let first = load(0, &noLog)
        if first >= 0 { return FileDescriptor(owning: first) }
        let firstErrno = -first
        // Permission and memory problems are not the verifier's: a log would say nothing more.
        if firstErrno == EPERM || firstErrno == ENOMEM || firstErrno == ENOSYS {
            throw SyscallError(call: call, errno: firstErrno)
        }

        var size = logSizes.initial
        while true {
            var log = [UInt8](repeating: 0, count: size)
            let result = load(1, &log)
            if result >= 0 { return FileDescriptor(owning: result) }
            let errno = -result
            if errno == ENOSPC && size < logSizes.maximum {
                size = min(size * 4, logSizes.maximum)
                continue
            }
            let text = Self.logText(log)
            guard !text.isEmpty else { throw SyscallError(call: call, errno: errno == ENOSPC ? firstErrno : errno) }
            throw VerifierError(subject: subject, errno: errno == ENOSPC ? firstErrno : errno,
                                log: text, logTruncated: errno == ENOSPC)
        }
    }

    /// The log up to its terminating NUL.
    static func logText(_ buffer: [UInt8]) -> String {
        let end = buffer.firstIndex(of: 0) ?? buffer.endIndex
        return String(decoding: buffer[..<end], as: UTF8.self)
    }
}
