import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

/// gzip and OpenMetrics on a real server on loopback: curl, gzip(1), promtool and a real
/// Prometheus as the witnesses.
@Suite(.serialized) struct ScrapeNegotiationTests {
    private func start(_ state: ExporterState, web: String? = nil) throws -> (MetricsHTTPServer, Int) {
        var configuration = HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: "127.0.0.1:0"))
        configuration.web = try web.map { try WebConfiguration.load(path: $0) }
        let server = try MetricsHTTPServer(configuration: configuration, state: state, buildVersion: "test")
        guard let port = server.localAddress?.port else { throw ExporterTestError("no port") }
        return (server, port)
    }

    /// Prometheus 2.42's scrape Accept header.
    static let prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

    @Test func acceptHeadersChooseTheFormat() {
        #expect(ExpositionFormat.negotiate(accept: []) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: ["*/*"]) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: ["text/plain;version=0.0.4"]) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: [Self.prometheusAccept]) == .openMetrics)
        #expect(ExpositionFormat.negotiate(accept: ["application/openmetrics-text"]) == .openMetrics)
        #expect(ExpositionFormat.negotiate(accept: ["application/openmetrics-text; version=2.0.0"]) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: ["application/openmetrics-text;q=0.2, text/plain;q=0.9"]) == .prometheusText)
        #expect(ExpositionFormat.negotiate(accept: ["text/plain;q=0.1", "application/openmetrics-text;q=0.5"]) == .openMetrics)
        #expect(ExpositionFormat.negotiate(accept: ["application/json"]) == .prometheusText)
    }

    @Test func gzipBodiesDecompressToTheUncompressedBody() throws {
        // 10 000 series: about 1 MB, so several 256 KiB chunks, each compressed as it is sent.
        let state = MetricsBenchmark.populatedState(series: 10_000)
        let (server, port) = try start(state)
        defer { server.shutdown() }
        let url = "http://127.0.0.1:\(port)/metrics"
        for accept in ["", Self.prometheusAccept] {
            let acceptArguments = accept.isEmpty ? [] : ["-H", "Accept: \(accept)"]
            let plain = try Curl.fetch(url, acceptArguments)
            #expect(plain.status == 200 && plain.headers["content-encoding"] == nil)
            #expect(plain.bodyBytes.count > 3 * ScrapeCoordinator.chunkBytes)
            let compressed = try Curl.fetch(url, acceptArguments + ["-H", "Accept-Encoding: gzip"])
            #expect(compressed.status == 200)
            #expect(compressed.headers["content-encoding"] == "gzip")
            #expect(compressed.headers["transfer-encoding"] == "chunked")
            #expect(compressed.headers["vary"] == "Accept, Accept-Encoding")
            #expect(compressed.bodyBytes.count < plain.bodyBytes.count / 4)
            let decompressed = try Self.gunzip(compressed.bodyBytes)
            #expect(decompressed == plain.bodyBytes, "gzip -d of the body differs from the plain body")
        }
        // HTTP/1.0 has no chunked encoding, so a streamed body cannot be compressed: plain.
        let old = try Curl.fetch(url, ["--http1.0", "-H", "Accept-Encoding: gzip"])
        #expect(old.status == 200 && old.headers["content-encoding"] == nil, "\(old)")
        #expect(old.headers["transfer-encoding"] == nil)
        #expect(old.bodyBytes == (try Curl.fetch(url).bodyBytes))
        // HEAD: headers only, even when gzip is accepted (no gzip trailer as a body), kept alive.
        let head = try HTTPProbe.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", port: port)
        #expect(head.status_line == "HTTP/1.1 200 OK")
        #expect(head.body.isEmpty && head.closed == false)
        #expect(head.headers["content-encoding"] == nil)
        // curl --compressed, which asks for deflate and gzip (and more) and decodes.
        let decoded = try Command.run(["curl", "--silent", "--fail", "--compressed", url]).stdout
        #expect(decoded.utf8.count > 3 * ScrapeCoordinator.chunkBytes)
    }

    @Test func openMetricsIsServedWhenAskedForAndPromtoolAcceptsTheText() throws {
        let state = try ExpositionFixture.state()
        _ = ExpositionFixture.exposition(state)
        let (server, port) = try start(state)
        defer { server.shutdown() }
        let url = "http://127.0.0.1:\(port)/metrics"
        let open = try Curl.fetch(url, ["-H", "Accept: \(Self.prometheusAccept)"])
        #expect(open.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(open.body.hasSuffix("\n# EOF\n"))
        #expect(open.body.contains("# TYPE tcp_retransmissions counter\n"))
        #expect(open.body.contains("# HELP tcp_retransmissions "))
        #expect(open.body.contains("\ntcp_retransmissions_total{"))
        #expect(open.body.contains("# TYPE retrans_exporter_build info\n"))
        #expect(open.body.contains("\nretrans_exporter_build_info{version=\"0.1.0\",swift_version=\"6.3\"} 1\n"))

        let text = try Curl.fetch(url)
        #expect(text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(!text.body.contains("# EOF"))
        #expect(text.body.contains("# TYPE tcp_retransmissions_total counter\n"))
        #expect(text.body.contains("# TYPE retrans_exporter_build_info gauge\n"))
        // Sample lines are the same in both.
        let samples = { (body: String) in body.split(separator: "\n").filter { !$0.hasPrefix("#") } }
        #expect(samples(open.body) == samples(text.body))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-om-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try text.bodyBytes.write(to: file)
        let promtool = try Command.shell("promtool check metrics < '\(file.path)'", check: false)
        #expect(promtool.succeeded, "\(promtool)")
    }

    static func gunzip(_ data: Data) throws -> Data {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-gz-\(UUID().uuidString).gz")
        defer { try? FileManager.default.removeItem(at: file) }
        try data.write(to: file)
        let result = try Command.run(["gzip", "-dc", file.path])
        return Data(result.stdout.utf8)
    }
}

/// A real Prometheus scraping the in-process server over TLS, with basic auth and client
/// certificates: the right credentials get `up == 1` (through its OpenMetrics parser and gzip,
/// which it always asks for), a wrong password, none, or no client certificate get `up == 0`.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")))
struct WebPrometheusTests {
    @Test func prometheusScrapesOverTLSWithBasicAuth() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let config = try pki.config("""
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            basic_auth_users:
              alice: \(try TestPKI.bcrypt("secret", cost: 10))
            """)
        var configuration = HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: "127.0.0.1:0"))
        configuration.web = try WebConfiguration.load(path: config)
        let state = try ExpositionFixture.state()
        _ = ExpositionFixture.exposition(state)
        let server = try MetricsHTTPServer(configuration: configuration, state: state, buildVersion: "test")
        defer { server.shutdown() }
        let exporterPort = try #require(server.localAddress?.port)
        let prometheusPort = try freeLoopbackPort()

        func job(_ name: String, password: String?, clientCertificate: Bool = true) -> String {
            """
              - job_name: \(name)
                scheme: https
                tls_config:
                  ca_file: \(pki.file("ca.crt"))
            \(clientCertificate ? "      cert_file: \(pki.file("client.crt"))\n      key_file: \(pki.file("client.key"))" : "")
            \(password.map { "    basic_auth:\n      username: alice\n      password: \($0)" } ?? "")
                static_configs:
                  - targets: ["127.0.0.1:\(exporterPort)"]
            """
        }
        try pki.write("prometheus.yml", """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
            \(job("ok", password: "secret"))
            \(job("wrong-password", password: "nope"))
            \(job("no-credentials", password: nil))
            \(job("no-client-cert", password: "secret", clientCertificate: false))
            """)
        let prometheus = try Command.start([
            "/usr/bin/prometheus", "--config.file", pki.file("prometheus.yml"),
            "--storage.tsdb.path", pki.file("data"), "--web.listen-address", "127.0.0.1:\(prometheusPort)",
        ])
        defer { prometheus.kill() }
        let api = "http://127.0.0.1:\(prometheusPort)/api/v1"
        let up = try poll(timeout: 60, interval: 0.5, "every job scraped") { () -> [String: String]? in
            guard let text = try? HTTP.get("\(api)/query", query: ["query": "up"]),
                  let values = Self.upByJob(text), values.count == 4 else { return nil }
            return values
        }
        #expect(up == ["ok": "1", "wrong-password": "0", "no-credentials": "0", "no-client-cert": "0"],
                "\(up)")
        // The scrape went through the OpenMetrics parser: it knows the info type, and counter
        // families named without _total.
        let metadata = try HTTP.get("\(api)/targets/metadata", query: ["match_target": "{job=\"ok\"}"])
        let types = Self.metadataTypes(metadata)
        #expect(types["retrans_exporter_build"] == "info", "\(metadata)")
        #expect(types["tcp_retransmissions"] == "counter", "\(metadata)")
        let targets = try HTTP.get("\(api)/targets")
        #expect(targets.contains("401 Unauthorized"), "the refused jobs' errors name the 401")
        let value = try HTTP.get("\(api)/query", query: ["query": "retrans_exporter_bpf_emitted_total{job=\"ok\"}"])
        #expect(value.contains("\"12\""), "\(value)")
    }

    /// Metric family name to type, from `/api/v1/targets/metadata`.
    static func metadataTypes(_ text: String) -> [String: String] {
        guard let response = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let data = response["data"] as? [[String: Any]] else { return [:] }
        var types: [String: String] = [:]
        for entry in data {
            if let metric = entry["metric"] as? String, let type = entry["type"] as? String { types[metric] = type }
        }
        return types
    }

    /// `{"job": "0"|"1"}` from an instant query of `up`.
    static func upByJob(_ text: String) -> [String: String]? {
        guard let response = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let data = response["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else { return nil }
        var values: [String: String] = [:]
        for entry in result {
            guard let labels = entry["metric"] as? [String: String], let job = labels["job"],
                  let pair = entry["value"] as? [Any], pair.count == 2, let value = pair[1] as? String else { continue }
            values[job] = value
        }
        return values
    }
}
