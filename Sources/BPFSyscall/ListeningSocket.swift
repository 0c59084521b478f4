#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket, bound and listening, made before any thread exists so that a
/// busy port fails before anything is loaded into the kernel. An HTTP server
/// started later adopts the descriptor; connections that arrive meanwhile wait
/// in the backlog.
public enum ListeningSocket {
    /// Binds `host:port` and listens. `host` nil means every address: the IPv6
    /// wildcard, which takes IPv4 too (dual stack), or the IPv4 wildcard where
    /// IPv6 is off. Port 0 takes a free port (see `localPort`).
    public static func open(host: String?, port: UInt16, backlog: Int32 = 1024,
                            syscalls: Syscalls = .kernel) throws(ListenError) -> FileDescriptor {
        guard let host else {
            do {
                do {
                    return try open(address: wildcard(family: AF_INET6, port: port), family: AF_INET6,
                                    backlog: backlog, syscalls: syscalls)
                } catch where error.errno == EAFNOSUPPORT || error.errno == EADDRNOTAVAIL {
                    return try open(address: wildcard(family: AF_INET, port: port), family: AF_INET,
                                    backlog: backlog, syscalls: syscalls)
                }
            } catch {
                throw .socket(error)
            }
        }
        var address: [UInt8] = []
        var family: Int32 = 0
        let status = syscalls.resolve(host, port, &address, &family)
        guard status == 0 else { throw .unknownHost(host, reason: String(cString: gai_strerror(status))) }
        do {
            return try open(address: address, family: family, backlog: backlog, syscalls: syscalls)
        } catch {
            throw .socket(error)
        }
    }

    private static func open(address: [UInt8], family: Int32, backlog: Int32,
                             syscalls: Syscalls) throws(SyscallError) -> FileDescriptor {
        let socket = FileDescriptor(owning: try Syscalls.check(syscalls.streamSocket(family), "socket"))
        _ = try Syscalls.check(syscalls.setSocketOption(socket.rawValue, SOL_SOCKET, SO_REUSEADDR, 1),
                               "setsockopt(SO_REUSEADDR)")
        if family == AF_INET6 {
            // Dual stack whatever net.ipv6.bindv6only says (only the wildcard takes IPv4).
            _ = try Syscalls.check(syscalls.setSocketOption(socket.rawValue, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0),
                                   "setsockopt(IPV6_V6ONLY)")
        }
        _ = try Syscalls.check(syscalls.bind(socket.rawValue, address), "bind")
        _ = try Syscalls.check(syscalls.listen(socket.rawValue, backlog), "listen")
        return socket
    }

    private static func wildcard(family: Int32, port: UInt16) -> [UInt8] {
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            return withUnsafeBytes(of: address) { Array($0) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        return withUnsafeBytes(of: address) { Array($0) }
    }
}

/// Why the listening socket could not be made.
public enum ListenError: Error, Sendable, Equatable, CustomStringConvertible {
    case socket(SyscallError)
    case unknownHost(String, reason: String)

    /// The errno of the call that failed, nil for a name that did not resolve.
    public var errno: Int32? {
        if case .socket(let error) = self { return error.errno }
        return nil
    }

    public var description: String {
        switch self {
        case .socket(let error): return "\(error)"
        case .unknownHost(let host, let reason): return "cannot resolve host '\(host)': \(reason)"
        }
    }
}
