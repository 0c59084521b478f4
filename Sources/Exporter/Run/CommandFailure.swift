import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// Prints `error: ...` to stderr and returns exit status 1. A verifier rejection shows
/// its last lines, or with `--verbose` the whole log.
func commandFailure(_ error: any Error, verbose: Bool = false) -> ExitStatus {
    var message = "error: \(error)\n"
    if verbose, let rejection = error.rootCause as? VerifierError {
        message += "full verifier log:\n\(rejection.log)\n"
    }
    writeStandardError(message)
    return ExitStatus.failure
}

func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
