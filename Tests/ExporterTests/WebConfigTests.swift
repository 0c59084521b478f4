import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// `--web.config.file`: the file's checks (pure), then TLS, client certificates, basic auth,
/// headers and reloading on a real server on loopback, with curl and openssl as the clients.
@Suite(.serialized) struct WebConfigTests {
    // MARK: the file

    private func loadError(_ text: String, in pki: TestPKI) throws -> String {
        let path = try pki.config(text)
        do {
            _ = try WebConfiguration.load(path: path)
            return "loaded"
        } catch {
            return error.description
        }
    }

    @Test func badFilesFailWithTheLineAndWhatIsWrong() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        #expect(try loadError(base, in: pki) == "loaded")
        #expect(try loadError(base + "  client_auth: RequireAndVerifyClientCert\n", in: pki)
            .contains("line 4: unknown field 'client_auth' in tls_server_config"))
        #expect(try loadError(base + "  min_version: TLS14\n", in: pki).contains("line 4: unknown TLS version 'TLS14'"))
        #expect(try loadError(base + "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, NOPE]\n", in: pki)
            .contains("unknown cipher 'NOPE'"))
        #expect(try loadError(base + "  curve_preferences:\n    - CurveP256\n    - P-999\n", in: pki)
            .contains("line 6: unknown curve 'P-999'"))
        #expect(try loadError(base + "  client_ca_file: ca.crt\n", in: pki)
            .contains("client_ca_file is set but client_auth_type is NoClientCert"))
        #expect(try loadError(base + "  client_auth_type: RequireAndVerifyClientCert\n", in: pki)
            .contains("needs client_ca_file"))
        #expect(try loadError(base + "  cert_file: other.crt\n", in: pki).contains("line 4: 'cert_file' appears twice"))
        #expect(try loadError("tls_server_config:\n  key_file: server.key\n", in: pki).contains("needs cert_file"))
        #expect(try loadError("tls_server_config: [a, b\n", in: pki).contains("line 2"))
        #expect(try loadError("basic_auth_users:\n  alice: plaintext\n", in: pki)
            .contains("line 2: the password of user 'alice' is not a bcrypt hash"))
        #expect(try loadError("basic_auth_users:\n  alice: $1$abc$0123456789012345678901\n", in: pki)
            .contains("is not a bcrypt hash"))
        #expect(try loadError("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", in: pki)
            .contains("line 3: invalid value 'allow' for X-Frame-Options"))
        #expect(try loadError("http_server_config:\n  headers:\n    Server: x\n", in: pki)
            .contains("HTTP header 'Server' can not be configured"))
        #expect(try loadError("", in: pki) == "loaded")
        #expect(try loadError("# nothing\n", in: pki) == "loaded")
    }

    @Test func yamlIsReadAsYAML() throws {
        // Quoting, flow style, comments, anchors: libyaml's, not a line-by-line guess.
        let text = """
            # comment
            http_server_config: {http2: false, headers: {"X-Content-Type-Options": 'nosniff'}}
            tls_server_config: &tls
              cert_file: "server.crt"   # trailing comment
              key_file: >-
                server.key
              cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
              curve_preferences: [X25519, CurveP256]
              min_version: TLS13
            rate_limit:
              interval: 1m30s
              burst: 3
            """
        let configuration = try WebConfiguration.parse(Array(text.utf8), path: "/etc/r/web.yml")
        #expect(configuration.http2 == false)
        #expect(configuration.headers.map(\.name) == ["X-Content-Type-Options"])
        #expect(configuration.tls?.certificate == .file("/etc/r/server.crt"))
        #expect(configuration.tls?.key == .file("/etc/r/server.key"))
        #expect(configuration.tls?.cipherSuites == [.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_AES_128_GCM_SHA256])
        #expect(configuration.tls?.curves == [.x25519, .secp256r1])
        #expect(configuration.tls?.minimumVersion == .tlsv13)
        #expect(configuration.rateLimit == RateLimitSettings(intervalNanoseconds: 90_000_000_000, burst: 3))
        #expect(WebConfiguration.resolve("/abs/x.crt", in: "/etc/r") == "/abs/x.crt")
        #expect(WebConfiguration.resolve("x.crt", in: ".") == "x.crt")
        #expect(WebConfiguration.directory(of: "web.yml") == ".")
        #expect(WebConfiguration.directory(of: "/web.yml") == "/")
        #expect(throws: WebConfigurationError.self) {
            try WebConfiguration.parse(Array("a: 1\n---\nb: 2\n".utf8), path: "x")
        }
        #expect(throws: WebConfigurationError.self) {
            try WebConfiguration.parse(Array("basic_auth_users: [alice]\n".utf8), path: "x")
        }
    }

    @Test func rateLimitAnswers429BeyondTheBurst() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (server, port) = try start(try pki.config("rate_limit:\n  interval: 1h\n  burst: 2\n"))
        defer { server.shutdown() }
        let url = "http://127.0.0.1:\(port)/metrics"
        let statuses = try (0..<3).map { _ in try Curl.fetch(url).status }
        #expect(statuses == [200, 200, 429])
    }

    @Test func missingOrMismatchedCertificatesFailAtLoad() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.makeServerCertificate(serial: "0x2002", name: "other")
        let missing = try loadError("tls_server_config:\n  cert_file: absent.crt\n  key_file: server.key\n", in: pki)
        #expect(missing.contains("line 2: cannot read cert_file") && missing.contains("absent.crt: No such file"), "\(missing)")
        let mismatched = try loadError("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", in: pki)
        #expect(mismatched.contains("line 3: the private key does not match the certificate"), "\(mismatched)")
        try pki.write("garbage.crt", "not a certificate\n")
        let garbage = try loadError("tls_server_config:\n  cert_file: garbage.crt\n  key_file: server.key\n", in: pki)
        #expect(garbage.contains("holds no"), "\(garbage)")
        let badCA = try loadError("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: garbage.crt\n", in: pki)
        #expect(badCA.contains("client_ca_file"), "\(badCA)")
    }

    @Test func bcryptHashesFromHtpasswdVerify() throws {
        let hash = try #require(BcryptHash(try TestPKI.bcrypt("s3cret:x")))
        #expect(hash.verify(Array("s3cret:x".utf8)))
        #expect(!hash.verify(Array("s3cret:y".utf8)))
        #expect(!hash.verify([]))
        let credentials = BasicAuthVerifier.credentials(fromHeader: "Basic " + Data("alice:s3cret:x".utf8).base64EncodedString())
        #expect(credentials == BasicAuthVerifier.Credentials(user: "alice", password: Array("s3cret:x".utf8)))
        #expect(BasicAuthVerifier.credentials(fromHeader: "Bearer abc") == nil)
        #expect(BasicAuthVerifier.credentials(fromHeader: "Basic !!!!") == nil)
        let verifier = BasicAuthVerifier(users: ["alice": hash])
        #expect(verifier.verify(credentials))
        #expect(verifier.verify(credentials))   // cached
        let unknownUser = BasicAuthVerifier.Credentials(user: "bob", password: Array("s3cret:x".utf8))
        let unknownAccepted = verifier.verify(unknownUser)
        #expect(unknownAccepted == false)
        #expect(!verifier.verify(nil))
    }

    // MARK: serving

    private func start(_ configPath: String?, state: ExporterState? = nil) throws -> (MetricsHTTPServer, Int) {
        var configuration = HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: "127.0.0.1:0"))
        configuration.web = try configPath.map { try WebConfiguration.load(path: $0) }
        let state = try state ?? ExpositionFixture.state()
        if EventBytes.seriesCount(of: state) == 0 { _ = ExpositionFixture.exposition(state) }
        let server = try MetricsHTTPServer(configuration: configuration, state: state, buildVersion: "test")
        guard let port = server.localAddress?.port else { throw ExporterTestError("no port") }
        return (server, port)
    }

    @Test func tlsWithBasicAuthAndHeaders() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let config = try pki.config("""
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              min_version: TLS12
            http_server_config:
              headers:
                X-Frame-Options: deny
                Strict-Transport-Security: max-age=31536000
            basic_auth_users:
              alice: \(try TestPKI.bcrypt("secret"))
              bob: "\(try TestPKI.bcrypt("other"))"
            """)
        let (server, port) = try start(config)
        defer { server.shutdown() }
        let url = "https://127.0.0.1:\(port)/metrics"
        let ok = try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "alice:secret"])
        #expect(ok.status == 200, "\(ok)")
        #expect(ok.body.contains("tcp_retransmissions_total{"))
        #expect(ok.headers["x-frame-options"] == "deny")
        #expect(ok.headers["strict-transport-security"] == "max-age=31536000")
        #expect(try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "bob:other"]).status == 200)

        for arguments in [[], ["-u", "alice:wrong"], ["-u", "mallory:secret"], ["-u", "alice:"],
                          ["-H", "Authorization: Basic garbage"]] {
            let refused = try Curl.fetch(url, ["--cacert", pki.file("ca.crt")] + arguments)
            #expect(refused.status == 401, "\(arguments): \(refused)")
            #expect(refused.headers["www-authenticate"]?.hasPrefix("Basic") == true)
            #expect(refused.headers["x-frame-options"] == "deny")
            #expect(!refused.body.contains("tcp_retransmissions_total"))
        }
        let missing = try Curl.fetch("https://127.0.0.1:\(port)/nope", ["--cacert", pki.file("ca.crt"), "-u", "alice:secret"])
        #expect(missing.status == 404 && missing.headers["x-frame-options"] == "deny")
        let gzip = try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "alice:secret", "--compressed"])
        #expect(gzip.status == 200 && gzip.body == ok.body)
        // The landing page is behind the same authentication.
        #expect(try Curl.fetch("https://127.0.0.1:\(port)/", ["--cacert", pki.file("ca.crt")]).status == 401)
        // Plain HTTP to the TLS port gets no metrics.
        let plain = try Curl.fetch("http://127.0.0.1:\(port)/metrics", ["-u", "alice:secret"])
        #expect(plain.status != 200)
        // TLS 1.1 is below min_version.
        let old = try Curl.fetch(url, ["--cacert", pki.file("ca.crt"), "-u", "alice:secret", "--tls-max", "1.1"])
        #expect(old.status == 0)
    }

    @Test func clientCertificatesPerClientAuthType() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let url = { (port: Int) in "https://127.0.0.1:\(port)/metrics" }
        let trust = ["--cacert", pki.file("ca.crt")]
        let good = ["--cert", pki.file("client.crt"), "--key", pki.file("client.key")]
        let rogue = ["--cert", pki.file("rogue.crt"), "--key", pki.file("rogue.key")]
        // (type, status without a certificate, with the CA-signed one, with the self-signed one)
        let cases: [(String, Int, Int, Int)] = [
            ("NoClientCert", 200, 200, 200),
            ("RequestClientCert", 200, 200, 200),
            ("RequireAnyClientCert", 0, 200, 200),
            ("VerifyClientCertIfGiven", 200, 200, 0),
            ("RequireAndVerifyClientCert", 0, 200, 0),
        ]
        for (type, none, signed, selfSigned) in cases {
            let caLine = type.contains("Verify") ? "  client_ca_file: ca.crt\n" : ""
            let config = try pki.config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: \(type)\n" + caLine)
            let (server, port) = try start(config)
            defer { server.shutdown() }
            #expect(try Curl.fetch(url(port), trust).status == none, "\(type) without a certificate")
            #expect(try Curl.fetch(url(port), trust + good).status == signed, "\(type) with the CA-signed certificate")
            #expect(try Curl.fetch(url(port), trust + rogue).status == selfSigned, "\(type) with a self-signed certificate")
        }
        // client_allowed_sans: the signed certificate names DNS:prometheus.test.
        for (sans, expected) in [("[prometheus.test]", 200), ("[other.test, 10.203.0.9]", 0)] {
            let config = try pki.config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: \(sans)\n")
            let (server, port) = try start(config)
            defer { server.shutdown() }
            let response = try Curl.fetch(url(port), trust + good)
            #expect(response.status == expected, "client_allowed_sans \(sans): \(response)")
        }
    }

    @Test func aReplacedCertificateIsServedOnTheNextConnection() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let config = try pki.config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        let (server, port) = try start(config)
        defer { server.shutdown() }
        #expect(try Self.servedSerial(port: port) == "1001")
        // A new certificate and key, moved into place one after the other: in between, the
        // pair does not match and connections are refused (fail closed); then the new one.
        try pki.makeServerCertificate(serial: "0x2002", name: "renewed")
        try Command.shell("cd '\(pki.path)' && mv renewed.crt server.crt")
        #expect(try Self.servedSerial(port: port) == nil)
        try Command.shell("cd '\(pki.path)' && mv renewed.key server.key")
        #expect(try Self.servedSerial(port: port) == "2002")
        try pki.makeServerCertificate(serial: "0x4004", name: "again")
        try Command.shell("cd '\(pki.path)' && mv again.key server.key && mv again.crt server.crt")
        #expect(try Self.servedSerial(port: port) == "4004")
        // A broken file fails closed, and serving resumes once it loads again.
        try pki.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: nothing.key\n")
        #expect(try Self.servedSerial(port: port) == nil)
        try pki.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        #expect(try Self.servedSerial(port: port) == "4004")
        let ok = try Curl.fetch("https://127.0.0.1:\(port)/metrics", ["--cacert", pki.file("ca.crt")])
        #expect(ok.status == 200)
    }

    @Test func basicAuthUsersAreReloadedForKeptAliveClients() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let config = try pki.config("basic_auth_users:\n  alice: \(try TestPKI.bcrypt("one"))\n")
        let (server, port) = try start(config)
        defer { server.shutdown() }
        let url = "http://127.0.0.1:\(port)/metrics"
        #expect(try Curl.fetch(url, ["-u", "alice:one"]).status == 200)
        try pki.write("web.yml", "basic_auth_users:\n  alice: \(try TestPKI.bcrypt("two"))\n")
        // One curl, two requests on one kept-alive connection: the second sees the new file.
        let both = try Curl.statuses([url, url], ["-u", "alice:two"])
        #expect(both == [200, 200])
        #expect(try Curl.fetch(url, ["-u", "alice:one"]).status == 401)
    }

    /// The serial of the certificate a new TLS connection is served (`openssl s_client`), nil
    /// when the handshake fails.
    static func servedSerial(port: Int) throws -> String? {
        let result = try Command.shell(
            "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null",
            timeout: 20, check: false)
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix("serial=") else { return nil }
        return String(line.dropFirst("serial=".count))
    }
}

/// curl as an outside client: status 0 when no HTTP response came (TLS refused, reset).
enum Curl {
    struct Response: CustomStringConvertible {
        var status: Int
        var headers: [String: String]
        var body: String
        var bodyBytes: Data
        var error: String
        var description: String { "HTTP \(status) \(headers) \(error) \(body.prefix(200))" }
    }

    static func fetch(_ url: String, _ arguments: [String] = []) throws -> Response {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bodyPath = directory.appendingPathComponent("body").path
        let headerPath = directory.appendingPathComponent("headers").path
        let result = try Command.run(
            ["curl", "--silent", "--show-error", "--max-time", "20", "-o", bodyPath, "-D", headerPath,
             "-w", "%{http_code}"] + arguments + [url], timeout: 30, check: false)
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))) ?? Data()
        let headerText = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
        var headers: [String: String] = [:]
        for line in headerText.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: Int(result.stdout) ?? 0, headers: headers,
                        body: String(decoding: bytes, as: UTF8.self), bodyBytes: bytes, error: result.stderr)
    }

    /// Several URLs in one curl (one kept-alive connection): their statuses.
    static func statuses(_ urls: [String], _ arguments: [String]) throws -> [Int] {
        let result = try Command.run(
            ["curl", "--silent", "--max-time", "20", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}\n"]
                + arguments + urls, timeout: 30, check: false)
        return result.stdout.split(separator: "\n").compactMap { Int($0) }
    }
}
