import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// Why the metrics server could not start, in words a user can act on.
struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    var address: String
    var reason: String
    /// The errno of the call that failed, when one did.
    var errno: Int32? = nil

    var description: String { "cannot listen on \(address): \(reason)" }

    /// Describes a bind failure: the errno's meaning, plus advice where the cause is known.
    static func bindFailed(_ address: ListenAddress, _ error: ListenError) -> HTTPServerError {
        HTTPServerError(address: address.text, reason: reason(for: error, host: address.host), errno: error.errno)
    }

    static func startFailed(_ address: ListenAddress, _ error: any Error) -> HTTPServerError {
        HTTPServerError(address: address.text, reason: "the HTTP server could not start: \(error)")
    }

    private static func reason(for error: ListenError, host: String?) -> String {
        guard case .socket(let failure) = error else { return "\(error)" }
        let text = String(cString: strerror(failure.errno)).lowercased()
        switch failure.errno {
        case EADDRINUSE:
            return "\(text) (another exporter running? choose --web.listen-address)"
        case EADDRNOTAVAIL:
            return "\(text) (is \(host ?? "it") an address of this host?)"
        case EACCES:
            return "\(text) (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        default:
            return "\(failure)"
        }
    }
}
