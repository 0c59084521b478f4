import NIOCore
import Synchronization

/// What `--metrics.*` flags choose.
struct MetricsConfiguration: Sendable, Equatable {
    var labels: FlowLabelSelection = .default
    /// `--metrics.max-series`.
    var maximumSeries: Int = 10_000

    /// Keys and counts are reserved for the whole cap up front (as address space, 56 bytes a
    /// series), so the cap itself is bounded.
    static let seriesLimit = 10_000_000

    /// 0 is allowed (every event goes to the overflow series).
    func validate() throws(MetricsConfigurationError) {
        guard maximumSeries >= 0, maximumSeries <= Self.seriesLimit else {
            throw .maximumSeries(maximumSeries)
        }
    }
}

enum MetricsConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case maximumSeries(Int)

    var description: String {
        switch self {
        case .maximumSeries(let value):
            "--metrics.max-series \(value): choose 0...\(MetricsConfiguration.seriesLimit) (each series costs about 100 bytes)"
        }
    }
}

/// The exporter's metrics: the flow counter the ring reader feeds, and the scrape that turns it
/// (plus the kernel's numbers) into an exposition.
///
/// Wiring: create one, give `flows` to the ring-reading thread (`recordBatch` per drain), give
/// the state to `MetricsHTTPServer`; the server calls `scrape()` off its event loop.
final class ExporterState: Sendable {
    let configuration: MetricsConfiguration
    let flows: FlowCounter
    let source: MetricsSource
    /// Scrapes are serialised by the server; the lock makes that a property of this type too.
    private let renderer: Mutex<MetricsRenderer>

    /// `flows`: pass the counter the ring reader already feeds (made from the same
    /// configuration); by default a new one.
    init(configuration: MetricsConfiguration = MetricsConfiguration(), buildInfo: BuildInfo,
         flows: FlowCounter? = nil, source: MetricsSource = MetricsSource()) {
        self.configuration = configuration
        self.source = source
        self.flows = flows
            ?? FlowCounter(selection: configuration.labels, maximumSeries: configuration.maximumSeries)
        renderer = Mutex(MetricsRenderer(
            selection: configuration.labels, maximumSeries: configuration.maximumSeries, buildInfo: buildInfo))
    }

    /// One exposition in one buffer: drain (through `source.prepareScrape`), snapshot, render.
    /// Must not be called from `source`'s closures (scrapes are serialised by a lock).
    func scrape(format: ExpositionFormat = .prometheusText) -> ByteBuffer {
        renderer.withLock { renderer in
            renderer.render(inputs(&renderer), format: format)
        }
    }

    /// The same exposition in chunks of about `chunkBytes`, each passed to `sink` as soon as
    /// it is written; `sink` may block (e.g. until a client has taken the chunk). What the
    /// chunks show was fixed before the first one: later events do not change them.
    func scrape(chunkBytes: Int, format: ExpositionFormat = .prometheusText, sink: (ByteBuffer) -> Void) {
        renderer.withLock { renderer in
            renderer.render(inputs(&renderer), chunkBytes: chunkBytes, format: format, sink: sink)
        }
    }

    private func inputs(_ renderer: inout MetricsRenderer) -> ScrapeInputs {
        source.prepareScrape()
        let flows = flows.snapshot(into: &renderer.counts)
        return ScrapeInputs(flows: flows, kernel: source.kernelStatistics(), tcpSegments: source.tcpSegments())
    }
}
