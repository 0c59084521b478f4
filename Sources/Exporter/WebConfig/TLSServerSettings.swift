import NIOSSL

/// `tls_server_config`, with exporter-toolkit's names and defaults (TLS 1.2 to 1.3, no client
/// certificate).
struct TLSServerSettings: Sendable {
    /// A PEM text in the file itself (`cert`, `key`, `client_ca`) or a file (`*_file`).
    enum PEMSource: Sendable, Equatable {
        case file(String)
        case inline(String)
    }

    /// Go's crypto/tls ClientAuthType names.
    enum ClientAuth: String, Sendable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

        /// Whether a certificate the client presents is checked against client_ca.
        var verifies: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
    }

    var certificate: PEMSource
    var key: PEMSource
    var clientCA: PEMSource?
    var clientAuth = ClientAuth.noClientCert
    /// `client_allowed_sans`: nil, or the SANs of which the client certificate must have one.
    var clientAllowedSANs: [String]?
    var minimumVersion = TLSVersion.tlsv12
    var maximumVersion = TLSVersion.tlsv13
    /// TLS 1.2 and lower; empty: BoringSSL's defaults (as NIOSSL sets them).
    var cipherSuites: [NIOTLSCipher] = []
    /// Empty: BoringSSL's defaults.
    var curves: [NIOTLSCurve] = []
    /// Accepted and, as in Go since 1.17 (so in every exporter-toolkit build), without effect.
    var preferServerCipherSuites = true
    /// The line of `tls_server_config`, for errors found when the context is built.
    var line: Int
    /// The line of each field given, for the same.
    var fieldLines: [String: Int] = [:]

    /// The line of the first of `fields` given (`cert_file` or `cert`, say), else the section's.
    func line(of fields: String...) -> Int {
        fields.lazy.compactMap { fieldLines[$0] }.first ?? line
    }

    /// The files to watch for changes.
    var files: [String] {
        [certificate, key, clientCA].compactMap { source in
            if case .file(let path) = source { return path }
            return nil
        }
    }

    static let versions: [(name: String, version: TLSVersion)] = [
        ("TLS10", .tlsv1), ("TLS11", .tlsv11), ("TLS12", .tlsv12), ("TLS13", .tlsv13),
    ]

    /// Go's `tls.CipherSuites()` names, each of which BoringSSL implements. The three TLS 1.3
    /// suites are accepted but, as in Go, not configurable: TLS 1.3 always offers all three.
    static let cipherNames: [(name: String, cipher: NIOTLSCipher)] = [
        ("TLS_RSA_WITH_AES_128_CBC_SHA", .TLS_RSA_WITH_AES_128_CBC_SHA),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", .TLS_RSA_WITH_AES_256_CBC_SHA),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", .TLS_RSA_WITH_AES_128_GCM_SHA256),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", .TLS_RSA_WITH_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", .TLS_AES_128_GCM_SHA256),
        ("TLS_AES_256_GCM_SHA384", .TLS_AES_256_GCM_SHA384),
        ("TLS_CHACHA20_POLY1305_SHA256", .TLS_CHACHA20_POLY1305_SHA256),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", .TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", .TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", .TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA),
        ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", .TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        // Go's older aliases of the two ChaCha20 suites.
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ]

    static let tls13Ciphers: Set<UInt16> = [0x1301, 0x1302, 0x1303]

    /// exporter-toolkit's curve names.
    static let curveNames: [(name: String, curve: NIOTLSCurve)] = [
        ("CurveP256", .secp256r1), ("CurveP384", .secp384r1), ("CurveP521", .secp521r1), ("X25519", .x25519),
    ]

    init(_ node: YAMLNode, path: String, directory: String) throws(WebConfigurationError) {
        let fields = try WebConfigFields(node, path: path, section: "tls_server_config")
        var certificate: PEMSource?
        var key: PEMSource?
        line = node.line
        self.certificate = .inline("")
        self.key = .inline("")
        for (name, value) in try fields.entries(allowed: [
            "cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file", "client_auth_type",
            "client_allowed_sans", "min_version", "max_version", "cipher_suites", "prefer_server_cipher_suites",
            "curve_preferences",
        ]) {
            guard !value.isNull else { continue }
            fieldLines[name] = value.line
            switch name {
            case "cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file":
                let text = try fields.string(value, name: name)
                guard !text.isEmpty else { continue }
                let source: PEMSource = name.hasSuffix("_file")
                    ? .file(WebConfiguration.resolve(text, in: directory)) : .inline(text)
                let base = name.hasSuffix("_file") ? String(name.dropLast(5)) : name
                let existing = base == "cert" ? certificate : base == "key" ? key : clientCA
                guard existing == nil else {
                    throw fields.error(value.line, "give one of \(base) and \(base)_file, not both")
                }
                switch base {
                case "cert": certificate = source
                case "key": key = source
                default: clientCA = source
                }
            case "client_auth_type":
                let text = try fields.string(value, name: name)
                if text.isEmpty { continue }
                // "RequireClientCert": exporter-toolkit's old name, kept for compatibility.
                guard let auth = ClientAuth(rawValue: text == "RequireClientCert" ? "RequireAnyClientCert" : text) else {
                    throw fields.error(value.line, "unknown client_auth_type '\(text)'; choose from \(ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                clientAuth = auth
            case "client_allowed_sans":
                clientAllowedSANs = try fields.strings(value, name: name)
            case "min_version", "max_version":
                let text = try fields.string(value, name: name)
                guard let version = Self.versions.first(where: { $0.name == text })?.version else {
                    throw fields.error(value.line, "unknown TLS version '\(text)' for \(name); choose from \(Self.versions.map(\.name).joined(separator: ", "))")
                }
                if name == "min_version" { minimumVersion = version } else { maximumVersion = version }
            case "cipher_suites":
                for (index, text) in try fields.strings(value, name: name).enumerated() {
                    guard let cipher = Self.cipherNames.first(where: { $0.name == text })?.cipher else {
                        throw fields.error(Self.itemLine(value, index), "unknown cipher '\(text)'; known: \(Self.cipherNames.map(\.name).joined(separator: ", "))")
                    }
                    cipherSuites.append(cipher)
                }
            case "curve_preferences":
                for (index, text) in try fields.strings(value, name: name).enumerated() {
                    guard let curve = Self.curveNames.first(where: { $0.name == text })?.curve else {
                        throw fields.error(Self.itemLine(value, index), "unknown curve '\(text)'; choose from \(Self.curveNames.map(\.name).joined(separator: ", "))")
                    }
                    curves.append(curve)
                }
            default:  // prefer_server_cipher_suites
                preferServerCipherSuites = try fields.boolean(value, name: name)
            }
        }
        guard let certificate else { throw fields.error(node.line, "tls_server_config needs cert_file (or cert)") }
        guard let key else { throw fields.error(node.line, "tls_server_config needs key_file (or key)") }
        self.certificate = certificate
        self.key = key
        if clientCA != nil, clientAuth == .noClientCert {
            throw fields.error(node.line, "client_ca_file is set but client_auth_type is NoClientCert; set client_auth_type (RequireAndVerifyClientCert to require client certificates)")
        }
        if clientAuth.verifies, clientCA == nil {
            throw fields.error(node.line, "client_auth_type \(clientAuth.rawValue) needs client_ca_file (or client_ca): the CA that signs client certificates")
        }
        if let sans = clientAllowedSANs, !sans.isEmpty, clientAuth != .requireAndVerifyClientCert,
           clientAuth != .verifyClientCertIfGiven {
            throw fields.error(node.line, "client_allowed_sans needs client_auth_type RequireAndVerifyClientCert or VerifyClientCertIfGiven (the SAN of an unverified certificate proves nothing)")
        }
        guard Self.rank(minimumVersion) <= Self.rank(maximumVersion) else {
            throw fields.error(node.line, "min_version is above max_version")
        }
    }

    static func rank(_ version: TLSVersion) -> Int {
        switch version {
        case .tlsv1: 0
        case .tlsv11: 1
        case .tlsv12: 2
        case .tlsv13: 3
        }
    }

    private static func itemLine(_ node: YAMLNode, _ index: Int) -> Int {
        if case .sequence(let items) = node.value, index < items.count { return items[index].line }
        return node.line
    }
}
