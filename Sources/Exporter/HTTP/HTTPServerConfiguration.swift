import NIOCore

/// How the metrics server listens and what it tolerates from clients.
struct HTTPServerConfiguration: Sendable {
    /// `--web.listen-address`.
    var listenAddress: ListenAddress = .default
    /// `--web.telemetry-path`.
    var telemetryPath: String = "/metrics"
    /// Request line plus headers; beyond it the server answers 431 and closes.
    var maximumHeaderBytes = 8 * 1024
    /// From the first byte of a request until its headers are complete; then the connection is
    /// closed (slow clients that trickle bytes).
    var headerTimeout: TimeAmount = .seconds(10)
    /// A kept-alive connection with no request in progress is closed after this.
    var idleTimeout: TimeAmount = .seconds(120)
    /// How long a client may take to accept a response, or one chunk (256 KiB) of a metrics
    /// response, before it is disconnected.
    var writeTimeout: TimeAmount = .seconds(10)
    /// Connections beyond this are answered 503 and closed at once.
    var maximumConnections = 1000
    /// `--web.config.file`, loaded and checked (TLS, basic auth, headers); nil: plain HTTP.
    var web: LoadedWebConfiguration?

    init(listenAddress: ListenAddress = .default, telemetryPath: String = "/metrics") {
        self.listenAddress = listenAddress
        self.telemetryPath = telemetryPath
    }

    /// Checks `telemetryPath`: an absolute path without query, fragment, spaces or controls.
    func validate() throws(HTTPServerConfigurationError) {
        guard telemetryPath.hasPrefix("/") else { throw .telemetryPath(telemetryPath, "must start with /") }
        guard !telemetryPath.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "?")
            || $0 == UInt8(ascii: "#") })
        else {
            throw .telemetryPath(telemetryPath, "must not contain spaces, control characters, ? or #")
        }
        guard maximumConnections >= 1 else { throw .limit("maximum connections must be at least 1") }
        guard maximumHeaderBytes >= 256 else { throw .limit("the header limit must be at least 256 bytes") }
    }
}

enum HTTPServerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case telemetryPath(String, String)
    case limit(String)

    var description: String {
        switch self {
        case .telemetryPath(let path, let reason): "--web.telemetry-path '\(path)': \(reason)"
        case .limit(let reason): "HTTP server: \(reason)"
        }
    }
}
