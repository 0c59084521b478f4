#if canImport(Glibc)
import Glibc
#endif

/// Writes `message` to stderr unbuffered (the process aborts right after).
func writeToStandardError(_ message: String) {
    let bytes = Array(message.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
