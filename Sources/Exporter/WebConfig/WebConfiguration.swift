import BPFSyscall

/// `--web.config.file`: TLS, basic auth and response headers, in the file format of the
/// Prometheus exporter-toolkit (its docs/web-configuration.md), so the file an operator already
/// writes for node_exporter works here too.
///
/// `load(path:)` reads and checks everything, certificates and keys included: a file that
/// loads is one the server can serve with. Relative paths in the file are relative to the
/// file's directory, as in exporter-toolkit.
struct WebConfiguration: Sendable {
    /// The file it was read from (absolute or as given).
    let path: String
    /// nil: plain HTTP.
    var tls: TLSServerSettings?
    /// `http_server_config.headers`, in file order.
    var headers: [(name: String, value: String)] = []
    /// `basic_auth_users`: user name to bcrypt hash. Empty: no authentication.
    var users: [String: BcryptHash] = [:]
    /// `http_server_config.http2`: accepted for compatibility; this server speaks HTTP/1.1 only.
    var http2 = true
    /// `rate_limit`.
    var rateLimit: RateLimitSettings?

    /// Reads, parses and checks the file, and builds its TLS context once (so a missing
    /// certificate, a key that does not match it, or a bad CA fails here, at start).
    static func load(path: String) throws(WebConfigurationError) -> LoadedWebConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try SystemFile.readBytes(path, limit: 1 << 20)
        } catch {
            throw WebConfigurationError(path: path, line: nil, message: "cannot read it: \(error.description)")
        }
        let configuration = try parse(bytes, path: path)
        let tlsContext: WebTLSContext?
        do {
            tlsContext = try configuration.tls.map { settings throws(WebConfigurationError) in
                try WebTLSContext(settings)
            }
        } catch {
            throw WebConfigurationError(path: path, line: error.line ?? configuration.tls?.line,
                                        message: error.message)
        }
        return LoadedWebConfiguration(configuration: configuration, tls: tlsContext)
    }

    /// Parses the file's text (no file is read: certificates are loaded by `load`).
    static func parse(_ bytes: [UInt8], path: String) throws(WebConfigurationError) -> WebConfiguration {
        let root: YAMLNode?
        do {
            root = try YAMLDocument.parse(bytes)
        } catch {
            throw WebConfigurationError(path: path, line: error.line, message: "column \(error.column): \(error.message)")
        }
        var configuration = WebConfiguration(path: path)
        guard let root, !root.isNull else { return configuration }
        let fields = try WebConfigFields(root, path: path, section: "the file")
        let directory = Self.directory(of: path)
        for (key, value) in try fields.entries(allowed: ["tls_server_config", "http_server_config", "basic_auth_users",
                                                         "rate_limit"]) {
            guard !value.isNull else { continue }
            switch key {
            case "tls_server_config":
                configuration.tls = try TLSServerSettings(value, path: path, directory: directory)
            case "http_server_config":
                try configuration.readHTTPServerConfig(value)
            case "basic_auth_users":
                configuration.users = try Self.readUsers(value, path: path)
            default:
                configuration.rateLimit = try RateLimitSettings(value, path: path)
            }
        }
        return configuration
    }

    private mutating func readHTTPServerConfig(_ node: YAMLNode) throws(WebConfigurationError) {
        let fields = try WebConfigFields(node, path: path, section: "http_server_config")
        for (key, value) in try fields.entries(allowed: ["http2", "headers"]) {
            guard !value.isNull else { continue }
            if key == "http2" {
                http2 = try fields.boolean(value, name: "http2")
                continue
            }
            let headerFields = try WebConfigFields(value, path: path, section: "http_server_config.headers")
            for (name, headerValue) in try headerFields.entries(allowed: nil) {
                let text = try headerFields.string(headerValue, name: name)
                try ResponseHeaderRule.check(name: name, value: text, line: headerValue.line, path: path)
                // Unset if blank, as exporter-toolkit documents.
                if !text.isEmpty { headers.append((name, text)) }
            }
        }
    }

    private static func readUsers(_ node: YAMLNode, path: String) throws(WebConfigurationError) -> [String: BcryptHash] {
        let fields = try WebConfigFields(node, path: path, section: "basic_auth_users")
        var users: [String: BcryptHash] = [:]
        for (user, hashNode) in try fields.entries(allowed: nil) {
            let text = try fields.string(hashNode, name: "the hash of user '\(user)'")
            guard let hash = BcryptHash(text) else {
                throw WebConfigurationError(
                    path: path, line: hashNode.line,
                    message: "the password of user '\(user)' is not a bcrypt hash ($2y$, $2b$ or $2a$, a cost of 04 to 31, 53 characters of salt and hash); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`")
            }
            users[user] = hash
        }
        return users
    }

    /// The directory part of `path` ("." when it has none), to resolve relative file names.
    static func directory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let directory = String(path.utf8[..<slash]).map { $0.isEmpty ? "/" : $0 } ?? "."
        return directory
    }

    /// `name` relative to `directory` unless absolute (exporter-toolkit's JoinDir).
    static func resolve(_ name: String, in directory: String) -> String {
        guard !name.isEmpty, !name.hasPrefix("/") else { return name }
        return directory == "." ? name : (directory.hasSuffix("/") ? directory + name : directory + "/" + name)
    }
}

/// A configuration as loaded: the settings plus the TLS context built from them.
struct LoadedWebConfiguration: Sendable {
    let configuration: WebConfiguration
    let tls: WebTLSContext?

    /// Every file the configuration depends on (the configuration file first): when one
    /// changes, the configuration is loaded again.
    var watchedFiles: [String] {
        [configuration.path] + (configuration.tls?.files ?? [])
    }
}

struct WebConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    let path: String
    let line: Int?
    let message: String

    var description: String {
        "--web.config.file \(path)\(line.map { " line \($0)" } ?? ""): \(message)"
    }
}

/// `http_server_config.headers`: the headers exporter-toolkit allows, with its allowed values.
enum ResponseHeaderRule {
    /// Header name to allowed values (empty: any value).
    static let allowed: [(name: String, values: [String])] = [
        ("Strict-Transport-Security", []),
        ("X-Content-Type-Options", ["nosniff"]),
        ("X-Frame-Options", ["deny", "sameorigin"]),
        ("X-XSS-Protection", []),
        ("Content-Security-Policy", []),
    ]

    static func check(name: String, value: String, line: Int, path: String) throws(WebConfigurationError) {
        guard let rule = allowed.first(where: { $0.name == name }) else {
            throw WebConfigurationError(
                path: path, line: line,
                message: "HTTP header '\(name)' can not be configured; choose from \(allowed.map(\.name).joined(separator: ", "))")
        }
        guard rule.values.isEmpty || value.isEmpty || rule.values.contains(value) else {
            throw WebConfigurationError(
                path: path, line: line,
                message: "invalid value '\(value)' for \(name); expected one of: \(rule.values.joined(separator: ", "))")
        }
        guard !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw WebConfigurationError(path: path, line: line, message: "the value of \(name) has control characters")
        }
    }
}
