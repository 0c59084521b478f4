#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// Why the metrics server could not start, in words a user can act on.
struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    var address: String
    var reason: String

    var description: String { "cannot listen on \(address): \(reason)" }

    /// Describes a bind failure: the errno's meaning, plus advice where the cause is known.
    static func bindFailed(_ address: ListenAddress, _ error: any Error) -> HTTPServerError {
        HTTPServerError(address: address.text, reason: reason(for: error, host: address.host))
    }

    private static func reason(for error: any Error, host: String?) -> String {
        if let error = error as? IOError {
            let text = String(cString: strerror(error.errnoCode)).lowercased()
            switch error.errnoCode {
            case EADDRINUSE:
                return "\(text) (another exporter running? choose --web.listen-address)"
            case EADDRNOTAVAIL:
                return "\(text) (is \(host ?? "it") an address of this host?)"
            case EACCES:
                return "\(text) (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            default:
                return text
            }
        }
        if let error = error as? SocketAddressError.UnknownHost {
            return "cannot resolve host '\(error.host)': \(error.errorDescription)"
        }
        if let error = error as? SocketAddressError {
            return "unsupported address: \(error)"
        }
        return "\(error)"
    }
}
