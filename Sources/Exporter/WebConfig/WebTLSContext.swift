import BPFSyscall
import NIOCore
import NIOSSL

/// The TLS side of a loaded web configuration: a swift-nio-ssl (BoringSSL) context built from
/// `TLSServerSettings`, and the per-connection handler.
///
/// exporter-toolkit's client_auth_type on BoringSSL:
/// - NoClientCert: no certificate is asked for.
/// - RequestClientCert / RequireAnyClientCert: one is asked for (required by the second) and
///   accepted unverified, through a verification callback that accepts any chain.
/// - VerifyClientCertIfGiven / RequireAndVerifyClientCert: verified against client_ca only
///   (never the system store) if given / always.
struct WebTLSContext: Sendable {
    let context: NIOSSLContext
    let clientAuth: TLSServerSettings.ClientAuth
    let allowedSANs: [String]?

    /// Errors come without the file's path (`WebConfiguration.load` adds it).
    init(_ settings: TLSServerSettings) throws(WebConfigurationError) {
        do {
            try self.init(building: settings)
        } catch let error as WebConfigurationError {
            throw error
        } catch {
            throw WebConfigurationError(path: "", line: settings.line, message: "\(error)")
        }
    }

    private init(building settings: TLSServerSettings) throws {
        let chain = try Self.certificates(settings.certificate, field: "cert", line: settings.line(of: "cert_file", "cert"))
        let key = try Self.privateKey(settings.key, line: settings.line(of: "key_file", "key"))
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = settings.minimumVersion
        configuration.maximumTLSVersion = settings.maximumVersion
        let tls12Ciphers = settings.cipherSuites.filter { !TLSServerSettings.tls13Ciphers.contains($0.rawValue) }
        if !tls12Ciphers.isEmpty { configuration.cipherSuiteValues = tls12Ciphers }
        if !settings.curves.isEmpty { configuration.curves = settings.curves }
        // HTTP/1.1 only (http2 is not served): say so in ALPN, as Go does without h2.
        configuration.applicationProtocols = ["http/1.1"]
        switch settings.clientAuth {
        case .noClientCert:
            configuration.certificateVerification = .none
        case .requestClientCert:
            configuration.certificateVerification = .optionalVerification
        case .requireAnyClientCert, .requireAndVerifyClientCert:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyClientCertIfGiven:
            configuration.certificateVerification = .optionalVerification
        }
        if let clientCA = settings.clientCA {
            let roots = try Self.certificates(clientCA, field: "client_ca",
                                              line: settings.line(of: "client_ca_file", "client_ca"))
            configuration.trustRoots = .certificates(roots)
            // The CA names in the certificate request let a client pick the right certificate.
            configuration.sendCANameList = true
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            // BoringSSL checks the key against the certificate as it loads it.
            let keyLine = settings.line(of: "key_file", "key")
            if case NIOSSLError.failedToLoadPrivateKey = error {
                throw WebConfigurationError(path: "", line: keyLine,
                                            message: "the private key does not match the certificate (\(Self.name(settings.key, field: "key")) is not the key of \(Self.name(settings.certificate, field: "cert")))")
            }
            throw WebConfigurationError(path: "", line: settings.line,
                                        message: "the TLS settings are rejected by BoringSSL (\(Self.explain(error)))")
        }
        clientAuth = settings.clientAuth
        allowedSANs = settings.clientAllowedSANs.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The handler for one new connection.
    func makeHandler() -> NIOSSLServerHandler {
        switch clientAuth {
        case .requestClientCert, .requireAnyClientCert:
            NIOSSLServerHandler(context: context) { _, promise in promise.succeed(.certificateVerified) }
        case .noClientCert, .verifyClientCertIfGiven, .requireAndVerifyClientCert:
            NIOSSLServerHandler(context: context)
        }
    }

    private static func read(_ source: TLSServerSettings.PEMSource, field: String, line: Int) throws -> [UInt8] {
        switch source {
        case .inline(let text):
            return Array(text.utf8)
        case .file(let path):
            do {
                return try SystemFile.readBytes(path, limit: 1 << 20)
            } catch {
                throw WebConfigurationError(path: "", line: line, message: "cannot read \(field)_file: \(error.description)")
            }
        }
    }

    private static func name(_ source: TLSServerSettings.PEMSource, field: String) -> String {
        if case .file(let path) = source { return "\(field)_file \(path)" }
        return field
    }

    private static func certificates(_ source: TLSServerSettings.PEMSource, field: String, line: Int) throws
        -> [NIOSSLCertificate] {
        let bytes = try read(source, field: field, line: line)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw WebConfigurationError(path: "", line: line,
                                        message: "\(name(source, field: field)) holds no valid PEM certificate (\(explain(error)))")
        }
        guard !certificates.isEmpty else {
            throw WebConfigurationError(path: "", line: line,
                                        message: "\(name(source, field: field)) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    private static func privateKey(_ source: TLSServerSettings.PEMSource, line: Int) throws -> NIOSSLPrivateKey {
        var bytes = try read(source, field: "key", line: line)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw WebConfigurationError(path: "", line: line,
                                        message: "\(name(source, field: "key")) holds no valid unencrypted PEM private key (\(explain(error)))")
        }
    }

    static func explain(_ error: any Error) -> String {
        if let error = error as? BoringSSLError, case .sslError(let stack) = error,
           let first = stack.first {
            return "\(first)"
        }
        return "\(error)"
    }
}
