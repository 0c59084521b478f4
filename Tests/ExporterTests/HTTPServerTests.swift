import Foundation
import NIOCore
import Synchronization
import Testing
@testable import Exporter

/// Real HTTP over loopback (ports 21120-21199), with python3 as the client.
@Suite(.serialized) struct HTTPServerTests {
    private func startServer(
        port: Int, telemetryPath: String = "/metrics", state: ExporterState? = nil,
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws -> MetricsHTTPServer {
        let state = try state ?? ExpositionFixture.state()
        if EventBytes.seriesCount(of: state) == 0 { _ = ExpositionFixture.exposition(state) }
        var configuration = HTTPServerConfiguration(
            listenAddress: try ListenAddress(parsing: "127.0.0.1:\(port)"), telemetryPath: telemetryPath)
        configure(&configuration)
        return try MetricsHTTPServer(configuration: configuration, state: state, buildVersion: "test")
    }

    @Test func metricsAreServedWithThePrometheusContentType() throws {
        let server = try startServer(port: 21120)
        defer { server.shutdown() }
        let response = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21120)
        #expect(response.status_line == "HTTP/1.1 200 OK")
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.headers["transfer-encoding"] == "chunked")
        #expect(response.body.contains(
            "tcp_retransmissions_total{ip_version=\"6\",src_ip=\"fd00:203::1\",src_port=\"50000\",dst_ip=\"fd00:203::2\",dst_port=\"7101\"} 2\n"))
        #expect(response.closed == false)   // kept alive

        let withQuery = try HTTPProbe.send("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", port: 21120)
        #expect(withQuery.status_line == "HTTP/1.1 200 OK")

        let closing = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", port: 21120)
        #expect(closing.status_line == "HTTP/1.1 200 OK" && closing.closed == true)
        #expect(closing.body == response.body)

        // HTTP/1.0 has no chunked encoding: the body ends when the server closes.
        let old = try HTTPProbe.send("GET /metrics HTTP/1.0\r\n\r\n", port: 21120)
        #expect(old.status_line == "HTTP/1.0 200 OK")
        #expect(old.headers["transfer-encoding"] == nil)
        #expect(old.closed == true)
        #expect(old.body == response.body)
    }

    @Test func headReturnsHeadersOnly() throws {
        let server = try startServer(port: 21121)
        defer { server.shutdown() }
        let response = try HTTPProbe.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21121)
        #expect(response.status_line == "HTTP/1.1 200 OK")
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.body.isEmpty)
        #expect(response.closed == false)
    }

    @Test func landingPageLinksToTheTelemetryPath() throws {
        let server = try startServer(port: 21122, telemetryPath: "/custom/metrics")
        defer { server.shutdown() }
        let page = try HTTPProbe.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n", port: 21122)
        #expect(page.status_line == "HTTP/1.1 200 OK")
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("<a href=\"/custom/metrics\">"))
        let metrics = try HTTPProbe.send("GET /custom/metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21122)
        #expect(metrics.status_line == "HTTP/1.1 200 OK")
        let old = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21122)
        #expect(old.status_line == "HTTP/1.1 404 Not Found")
    }

    @Test func unknownPathsAre404AndOtherMethods405() throws {
        let server = try startServer(port: 21123)
        defer { server.shutdown() }
        let missing = try HTTPProbe.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", port: 21123)
        #expect(missing.status_line == "HTTP/1.1 404 Not Found")
        #expect(missing.closed == false)
        let post = try HTTPProbe.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", port: 21123)
        #expect(post.status_line == "HTTP/1.1 405 Method Not Allowed")
        #expect(post.headers["allow"] == "GET, HEAD")
        #expect(post.closed == true)
        let delete = try HTTPProbe.send("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", port: 21123)
        #expect(delete.status_line == "HTTP/1.1 405 Method Not Allowed")
    }

    @Test func requestBodiesAreRefused() throws {
        let server = try startServer(port: 21124)
        defer { server.shutdown() }
        let response = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", port: 21124)
        #expect(response.status_line == "HTTP/1.1 413 Payload Too Large")
        #expect(response.closed == true)
    }

    @Test func malformedRequestLineIs400AndClosed() throws {
        let server = try startServer(port: 21125)
        defer { server.shutdown() }
        for raw in ["GARBAGE\r\n\r\n", "GET /metrics HTTP/9.Z\r\n\r\n", "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n"] {
            let response = try HTTPProbe.send(raw, port: 21125)
            #expect(response.status_line == "HTTP/1.1 400 Bad Request", "for \(raw.debugDescription)")
            #expect(response.closed == true)
        }
    }

    @Test func oversizedHeadersAre431AndClosed() throws {
        let server = try startServer(port: 21126)
        defer { server.shutdown() }
        let big = String(repeating: "a", count: 9000)
        let response = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n", port: 21126)
        #expect(response.status_line == "HTTP/1.1 431 Request Header Fields Too Large")
        #expect(response.closed == true)
        let many = (0..<200).map { "X-H\($0): v\r\n" }.joined()
        let manyResponse = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\(many)\r\n", port: 21126)
        #expect(manyResponse.status_line == "HTTP/1.1 431 Request Header Fields Too Large")
        let longURI = try HTTPProbe.send("GET /\(big) HTTP/1.1\r\nHost: x\r\n\r\n", port: 21126)
        #expect(longURI.status_line == "HTTP/1.1 431 Request Header Fields Too Large")
    }

    private struct Closing: Decodable { var closed_after: Double? }

    @Test func tricklingClientIsClosedAtTheHeaderDeadline() throws {
        let server = try startServer(port: 21127) { $0.headerTimeout = .seconds(1) }
        defer { server.shutdown() }
        let result = try JSONDecoder().decode(Closing.self, from: HTTPProbe.run(["trickle", "21127", "0.1"]))
        let closedAfter = try #require(result.closed_after, "the server never closed the trickling connection")
        #expect(closedAfter >= 0.9 && closedAfter < 10, "closed after \(closedAfter) s")
    }

    @Test func idleConnectionsAreClosed() throws {
        let server = try startServer(port: 21128) {
            $0.idleTimeout = .seconds(1)
            $0.headerTimeout = .seconds(5)
        }
        defer { server.shutdown() }
        for mode in ["fresh", "after-request"] {
            let result = try JSONDecoder().decode(Closing.self, from: HTTPProbe.run(["idle", "21128", mode]))
            let closedAfter = try #require(result.closed_after, "idle connection (\(mode)) never closed")
            #expect(closedAfter >= 0.9 && closedAfter < 10, "\(mode): closed after \(closedAfter) s")
        }
    }

    private struct Concurrent: Decodable {
        var statuses: [String: Int]
        var seconds: Double
        var bodies_with_flow: Int
    }

    @Test func fiveHundredConcurrentScrapesAllSucceedAndShareRenders() throws {
        let renders = Atomic<Int>(0)
        let state = ExporterState(
            configuration: MetricsConfiguration(), buildInfo: BuildInfo(version: "test"),
            source: FlowTableSource(kernelStatistics: {
                // A slow collect (as a ring drain can be): requests keep arriving (the event loop
                // is free) and queue up.
                renders.add(1, ordering: .relaxed)
                usleep(20_000)
                return KernelStatistics()
            }))
        _ = ExpositionFixture.exposition(state)
        let before = renders.load(ordering: .relaxed)
        let server = try startServer(port: 21129, state: state)
        defer { server.shutdown() }
        let result = try JSONDecoder().decode(Concurrent.self, from: HTTPProbe.run(["concurrent", "21129", "500"]))
        #expect(result.statuses == ["HTTP/1.1 200 OK": 500])
        #expect(result.bodies_with_flow == 500)
        let scrapes = renders.load(ordering: .relaxed) - before
        // 500 requests spread over the run; a render takes >= 20 ms, so far fewer renders.
        #expect(scrapes >= 1 && scrapes <= Int(result.seconds / 0.02) + 2, "\(scrapes) renders for 500 requests")
        print("500 concurrent scrapes: \(result.seconds) s, \(scrapes) renders")
    }

    /// A body of many chunks arrives whole and equal to the unstreamed exposition.
    @Test func largeExpositionsStreamInChunks() throws {
        let state = MetricsBenchmark.populatedState(series: 20_000)
        var whole = state.scrape()
        let expected = whole.readString(length: whole.readableBytes) ?? ""
        #expect(expected.utf8.count > 4 * ScrapeCoordinator.chunkBytes)
        let server = try startServer(port: 21135, state: state)
        defer { server.shutdown() }
        let response = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21135)
        #expect(response.status_line == "HTTP/1.1 200 OK")
        #expect(response.body == expected)
    }

    private struct SlowReader: Decodable {
        var b_status: String
        var b_seconds: Double
        var b_body_bytes: Int
        var a_closed: Bool
        var a_bytes: Int
    }

    /// A client that stops reading holds up a shared scrape for one write timeout at most;
    /// then it is disconnected and the others get their bodies.
    @Test func aClientThatStopsReadingIsCutOff() throws {
        let state = MetricsBenchmark.populatedState(series: 60_000)
        var whole = state.scrape()
        let size = whole.readableBytes
        _ = whole.readString(length: size)
        let server = try startServer(port: 21136, state: state) { $0.writeTimeout = .seconds(1) }
        defer { server.shutdown() }
        let result = try JSONDecoder().decode(SlowReader.self, from: HTTPProbe.run(["slowreader", "21136"]))
        #expect(result.b_status == "HTTP/1.1 200 OK")
        #expect(result.b_body_bytes == size)
        #expect(result.b_seconds < 5, "the second client waited \(result.b_seconds) s")
        #expect(result.a_closed)
        #expect(result.a_bytes < size)
    }

    /// Shutdown does not wait for a client that stopped reading mid-scrape.
    @Test func shutdownIsPromptDuringAStalledScrape() throws {
        let state = MetricsBenchmark.populatedState(series: 60_000)
        let server = try startServer(port: 21137, state: state)
        let client = Thread { _ = try? HTTPProbe.run(["stall", "21137", "4"]) }
        client.start()
        Thread.sleep(forTimeInterval: 1.0)
        let start = Date()
        server.shutdown()
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds < 1.0, "shutdown took \(seconds) s")
    }

    @Test func connectionsBeyondTheLimitGet503() throws {
        let server = try startServer(port: 21130) { $0.maximumConnections = 5 }
        defer { server.shutdown() }
        let response = try JSONDecoder().decode(HTTPProbe.Response.self, from: HTTPProbe.run(["hold", "21130", "5"]))
        #expect(response.status_line == "HTTP/1.1 503 Service Unavailable")
        #expect(response.closed == true)
        // Once they are gone, connections are accepted again.
        Thread.sleep(forTimeInterval: 0.3)
        let again = try HTTPProbe.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", port: 21130)
        #expect(again.status_line == "HTTP/1.1 200 OK")
    }

    @Test func portInUseGivesTheAdvice() throws {
        let state = try ExpositionFixture.state()
        let first = try MetricsHTTPServer(
            configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: ":21131")), state: state)
        defer { first.shutdown() }
        #expect {
            _ = try MetricsHTTPServer(
                configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: ":21131")), state: state)
        } throws: { error in
            "\(error)" == "cannot listen on :21131: address already in use (another exporter running? choose --web.listen-address)"
        }
        #expect {
            _ = try MetricsHTTPServer(
                configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: "127.0.0.1:21131")),
                state: state)
        } throws: { error in
            "\(error)" == "cannot listen on 127.0.0.1:21131: address already in use (another exporter running? choose --web.listen-address)"
        }
    }

    @Test func badAddressesGiveClearErrors() throws {
        let state = try ExpositionFixture.state()
        func failure(_ text: String) throws -> String {
            do {
                let server = try MetricsHTTPServer(
                    configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: text)), state: state)
                server.shutdown()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        // 192.0.2.1 (TEST-NET-1) is not on this host: bind fails, nothing is sent anywhere.
        #expect(try failure("192.0.2.1:21132")
            == "cannot listen on 192.0.2.1:21132: cannot assign requested address (is 192.0.2.1 an address of this host?)")
        // A host name that does not resolve is not tried: resolving it could send a DNS query
        // off this machine.
    }

    @Test func listensOnIPv6LoopbackAndAllAddresses() throws {
        let state = try ExpositionFixture.state()
        let server = try MetricsHTTPServer(
            configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: "[::1]:21133")), state: state)
        #expect(server.localAddress?.ipAddress == "::1")
        server.shutdown()
        let all = try MetricsHTTPServer(
            configuration: HTTPServerConfiguration(listenAddress: try ListenAddress(parsing: ":21134")), state: state)
        defer { all.shutdown() }
        // The wildcard takes IPv4 clients too.
        let response = try HTTPProbe.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n", port: 21134)
        #expect(response.status_line == "HTTP/1.1 200 OK")
    }

    /// Every exposition taken while events pour in is internally consistent: each event bumps
    /// `events_received` and exactly one count under the same lock, so a torn read would break
    /// received == sum(series) + overflow + decode errors.
    @Test func scrapesDuringCountingSeeWholeUpdates() throws {
        let configuration = MetricsConfiguration(labels: .default, maximumSeries: 500)
        let source = FlowTableSource(configuration: configuration)
        let state = ExporterState(configuration: configuration, buildInfo: BuildInfo(version: "test"), source: source)
        let records = MetricsBenchmark.syntheticRecords(count: 4096, flows: 1000)
        let stop = Atomic<Bool>(false)
        let writer = Thread {
            while !stop.load(ordering: .relaxed) {
                records.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        source.withTable { table in
                            for _ in 0..<64 where offset < raw.count {
                                let event = offset + 12  // after the sample's header and size
                                table.record(sample: UnsafeRawBufferPointer(
                                    rebasing: raw[event..<(event + RetransEvent.Layout.size)]))
                                offset += MetricsBenchmark.syntheticRecordSize
                            }
                        }
                    }
                }
            }
        }
        writer.start()
        defer { stop.store(true, ordering: .relaxed) }
        var previous: UInt64 = 0
        for _ in 0..<50 {
            var body = state.scrape()
            let text = body.readString(length: body.readableBytes) ?? ""
            var received: UInt64 = 0
            var counted: UInt64 = 0
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let value = UInt64(line.split(separator: " ").last ?? "") ?? 0
                if line.hasPrefix("tcp_retransmissions_total") || line.hasPrefix("tcp_retransmission_failures_total")
                    || line.hasPrefix("retrans_exporter_decode_errors_total ") {
                    counted += value
                } else if line.hasPrefix("retrans_exporter_events_received_total ") {
                    received = value
                }
            }
            #expect(received == counted)
            #expect(received >= previous)
            previous = received
        }
        #expect(previous > 0)
    }

    @Test func listenAddressParsing() throws {
        #expect(try ListenAddress(parsing: ":2112").host == nil)
        #expect(try ListenAddress(parsing: ":2112").port == 2112)
        #expect(try ListenAddress(parsing: "localhost:9").host == "localhost")
        #expect(try ListenAddress(parsing: "[::1]:2112").host == "::1")
        #expect(try ListenAddress(parsing: "[fe80::1%eth0]:1").host == "fe80::1%eth0")
        #expect(throws: ListenAddressError.missingPort("2112")) { try ListenAddress(parsing: "2112") }
        #expect(throws: ListenAddressError.badPort(":99999")) { try ListenAddress(parsing: ":99999") }
        #expect(throws: ListenAddressError.badPort("host:")) { try ListenAddress(parsing: "host:") }
        #expect(throws: ListenAddressError.badPort(":-1")) { try ListenAddress(parsing: ":-1") }
        #expect(throws: ListenAddressError.unbracketedIPv6("::1:2112")) { try ListenAddress(parsing: "::1:2112") }
        #expect(throws: ListenAddressError.unclosedBracket("[::1:2112")) { try ListenAddress(parsing: "[::1:2112") }
        #expect(throws: ListenAddressError.missingPort("[::1]")) { try ListenAddress(parsing: "[::1]") }
        #expect(throws: ListenAddressError.emptyHost("[]:1")) { try ListenAddress(parsing: "[]:1") }
        #expect(ListenAddressError.unbracketedIPv6("::1:2112").description
            == "--web.listen-address '::1:2112': put an IPv6 address in brackets, e.g. [::1]:2112")
    }

    @Test func telemetryPathIsValidated() {
        #expect(throws: HTTPServerConfigurationError.telemetryPath("metrics", "must start with /")) {
            try HTTPServerConfiguration(telemetryPath: "metrics").validate()
        }
        #expect(throws: HTTPServerConfigurationError.self) {
            try HTTPServerConfiguration(telemetryPath: "/a b").validate()
        }
    }
}
