import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPCompression

/// Body size and render time of a scrape with and without gzip, at 10k and 100k series, both
/// text formats: the exposition streamed in the server's 256 KiB chunks through the server's
/// own compressor (NIOHTTPCompression's HTTPResponseCompressor, in an EmbeddedChannel, one
/// flush per chunk as the request handler does).
enum CompressionBenchmark {
    struct Figures {
        var plainBytes = 0
        var compressedBytes = 0
        var plain = Elapsed()
        var compressed = Elapsed()
    }

    static func run(print output: (String) -> Void = { Swift.print($0) }) {
        output("scrape body with and without gzip (streamed in 256 KiB chunks; thread CPU time, wall in brackets; median of the runs)")
        for series in [10_000, 100_000] {
            let state = MetricsBenchmark.populatedState(series: series)
            _ = state.scrape()  // the first scrape sorts the series
            for format in [ExpositionFormat.prometheusText, .openMetrics] {
                let figures = measure(state, format: format, runs: series >= 100_000 ? 7 : 21)
                let ratio = Double(figures.plainBytes) / Double(max(1, figures.compressedBytes))
                output("\(series) series, \(format == .openMetrics ? "OpenMetrics" : "Prometheus text"): "
                    + "\(kib(figures.plainBytes)) KiB plain, \(kib(figures.compressedBytes)) KiB gzip "
                    + "(\(MetricsBenchmark.decimal(ratio, places: 1))x smaller); render "
                    + "\(ms(figures.plain.cpu)) ms [\(ms(figures.plain.wall))], render+gzip "
                    + "\(ms(figures.compressed.cpu)) ms [\(ms(figures.compressed.wall))]")
            }
        }
    }

    static func measure(_ state: ExporterState, format: ExpositionFormat, runs: Int) -> Figures {
        var figures = Figures()
        var plainTimes: [Elapsed] = []
        var compressedTimes: [Elapsed] = []
        for _ in 0..<runs {
            var bytes = 0
            plainTimes.append(Elapsed.measure {
                state.scrape(chunkBytes: ScrapeCoordinator.chunkBytes, format: format) { bytes += $0.readableBytes }
            })
            figures.plainBytes = bytes
            var compressedBytes = 0
            compressedTimes.append(Elapsed.measure { compressedBytes = gzipScrape(state, format: format) })
            figures.compressedBytes = compressedBytes
        }
        figures.plain = median(plainTimes)
        figures.compressed = median(compressedTimes)
        return figures
    }

    /// One scrape through the compressor; returns the compressed body's size (0 on failure).
    static func gzipScrape(_ state: ExporterState, format: ExpositionFormat) -> Int {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        guard (try? channel.pipeline.syncOperations.addHandler(HTTPResponseCompressor(initialByteBufferCapacity: 0))) != nil
        else { return 0 }
        var request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/metrics")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        guard (try? channel.writeInbound(HTTPServerRequestPart.head(request))) != nil else { return 0 }
        _ = try? channel.readInbound(as: HTTPServerRequestPart.self)
        var size = 0
        let drain = {
            while let part = try? channel.readOutbound(as: HTTPServerResponsePart.self) {
                if case .body(.byteBuffer(let buffer)) = part { size += buffer.readableBytes }
            }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: format.contentType)
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)),
                      promise: nil)
        state.scrape(chunkBytes: ScrapeCoordinator.chunkBytes, format: format) { chunk in
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(chunk)), promise: nil)
            drain()
        }
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        drain()
        return size
    }

    private static func median(_ times: [Elapsed]) -> Elapsed {
        Elapsed(wall: times.map(\.wall).sorted()[times.count / 2], cpu: times.map(\.cpu).sorted()[times.count / 2])
    }

    private static func kib(_ bytes: Int) -> String { MetricsBenchmark.decimal(Double(bytes) / 1024, places: 1) }
    private static func ms(_ nanoseconds: UInt64) -> String { MetricsBenchmark.decimal(Double(nanoseconds) / 1e6, places: 2) }
}
