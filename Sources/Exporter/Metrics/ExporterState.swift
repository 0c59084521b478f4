import NIOCore
import Synchronization

/// What `--metrics.*` flags choose.
struct MetricsConfiguration: Sendable, Equatable {
    var labels: FlowLabelSelection = .default
    /// `--metrics.max-series`: 0...`seriesLimit` (the flag's parser checks; 0 sends every event
    /// to the overflow series).
    var maximumSeries: Int = 10_000

    /// Keys and counts are reserved for the whole cap up front (as address space, 80 bytes a
    /// series), so the cap itself is bounded.
    static let seriesLimit = 10_000_000
}

/// The exporter's metrics: where the numbers come from, and the renderer that turns them into
/// an exposition. The server calls `scrape` off its event loop.
final class ExporterState: Sendable {
    let configuration: MetricsConfiguration
    let source: any ScrapeSource
    /// Scrapes are serialised by the server; the lock makes that a property of this type too.
    private let renderer: Mutex<MetricsRenderer>

    /// `cgroupResolver`: cgroup id -> path for the cgroup-derived labels (nil: they stay empty).
    init(configuration: MetricsConfiguration = MetricsConfiguration(), buildInfo: BuildInfo,
         source: any ScrapeSource, cgroupResolver: CgroupPathResolver? = nil) {
        self.configuration = configuration
        self.source = source
        renderer = Mutex(MetricsRenderer(
            selection: configuration.labels, maximumSeries: configuration.maximumSeries, buildInfo: buildInfo,
            cgroupResolver: cgroupResolver))
    }

    /// One exposition in one buffer: collect (drain and snapshot), render.
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
        let expired = renderer.expireCgroups()
        if !expired.isEmpty { source.forgetCgroups(expired) }
        let (flows, kernel) = source.collect(into: &renderer.counts)
        return ScrapeInputs(flows: flows, kernel: kernel, tcpSegments: source.tcpSegments(),
                            namespaces: source.namespaceCounters())
    }
}
