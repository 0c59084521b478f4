#if canImport(Glibc)
import Glibc
#endif
import BPFSyscall
import NIOCore

/// User-space figures of the performance issue, measured without a kernel: decode + count
/// throughput from synthetic perf-ring records, render time by series count, and RSS.
/// Prints figures with their targets; asserts nothing (timings on shared machines vary).
enum MetricsBenchmark {
    static func run(print output: (String) -> Void = { Swift.print($0) }) {
        output("retrans-exporter user-space benchmark (one core, synthetic data, no kernel)")
        output("RSS at start: \(ResidentMemory.text())")

        // Memory first, before other figures leave freed memory in the heap.
        let before = ResidentMemory.kibibytes() ?? 0
        let source = populatedSource(series: 100_000)
        let state = ExporterState(configuration: source.configuration, buildInfo: BuildInfo(version: "bench"),
                                  source: source)
        for _ in 0..<3 { state.scrape(chunkBytes: ScrapeCoordinator.chunkBytes) { _ in } }
        let after = ResidentMemory.kibibytes() ?? 0
        output("RSS with 100000 series after streamed scrapes: \(ResidentMemory.text()), "
            + "\(MetricsBenchmark.decimal(Double(after - before) / 1024, places: 1)) MiB more than before the "
            + "series existed   target <= 30 MB (whole exporter)")
        output("flow table arrays at 100000 series: \(source.withTable { $0.approximateBytes } / 1024) KiB")

        output("times: thread CPU time (wall-clock time in brackets; it includes time the shared machine gave to others)")
        for (flows, maximumSeries) in [(1_000, 10_000), (10_000, 10_000), (100_000, 10_000)] {
            let rate = decodeAndCountRate(flows: flows, maximumSeries: maximumSeries, events: 30_000_000)
            let note = flows > maximumSeries ? " (most events to the overflow series)" : ""
            output("decode+count, \(flows) flows, cap \(maximumSeries)\(note): "
                + "\(millions(rate.cpu)) M events/s [\(millions(rate.wall))]   target >= 5 M events/s")
        }

        for series in [1_000, 10_000, 100_000] {
            printRenderTimes(series: series, print: output)
        }
    }

    /// `bench --series N`: the render figures at one series count, plain and through gzip.
    static func runRender(series: Int, steadyScrapes: Int?, print output: (String) -> Void = { Swift.print($0) }) {
        output("times: thread CPU time (wall-clock time in brackets)")
        printRenderTimes(series: series, steadyScrapes: steadyScrapes, print: output)
        let gzip = gzipRenderTimes(series: series, steadyScrapes: steadyScrapes ?? defaultScrapes(series))
        output("render \(series) series through gzip (streamed): first scrape \(milliseconds(gzip.first.cpu)) ms "
            + "[\(milliseconds(gzip.first.wall))], steady \(milliseconds(gzip.steady.cpu)) ms "
            + "[\(milliseconds(gzip.steady.wall))] (median of \(gzip.runs)), \(gzip.bytes / 1024) KiB")
    }

    private static func printRenderTimes(series: Int, steadyScrapes: Int? = nil, print output: (String) -> Void) {
        let figures = renderTimes(series: series, runs: steadyScrapes ?? defaultScrapes(series))
        let target = series == 10_000 ? "   target <= 5 ms" : series == 100_000 ? "   target <= 50 ms" : ""
        output("render \(series) series: steady \(milliseconds(figures.steady.cpu)) ms "
            + "[\(milliseconds(figures.steady.wall))] (median of \(figures.runs)), "
            + "streamed in 256 KiB chunks \(milliseconds(figures.streamed.cpu)) ms "
            + "[\(milliseconds(figures.streamed.wall))], "
            + "first scrape \(milliseconds(figures.first.cpu)) ms [\(milliseconds(figures.first.wall))] "
            + "(every series new; streamed \(milliseconds(figures.firstStreamed.cpu)) ms "
            + "[\(milliseconds(figures.firstStreamed.wall))]), \(figures.bytes / 1024) KiB\(target)")
    }

    // MARK: decode + count

    /// The size of one synthetic record: PERF_RECORD_SAMPLE header (8), raw size (4), the
    /// event, and the kernel's padding to 8 bytes.
    static let syntheticRecordSize = (8 + 4 + RetransEvent.Layout.size + 7) & ~7

    /// A perf ring's worth of PERF_RECORD_SAMPLE records of tp_btf events (segments, kind,
    /// namespace and cgroup filled as the kernel would, a handful of cgroups and namespaces).
    static func syntheticRecords(count: Int, flows: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = BenchmarkRandom(seed: seed)
        let recordSize = syntheticRecordSize
        var bytes = [UInt8](repeating: 0, count: count * recordSize)
        bytes.withUnsafeMutableBytes { raw in
            for index in 0..<count {
                let flow = Int(generator.next() % UInt64(flows))
                let base = index * recordSize
                raw.storeBytes(of: UInt32(9).littleEndian, toByteOffset: base, as: UInt32.self)      // PERF_RECORD_SAMPLE
                raw.storeBytes(of: UInt16(recordSize).littleEndian, toByteOffset: base + 6, as: UInt16.self)
                raw.storeBytes(of: UInt32(recordSize - 12).littleEndian, toByteOffset: base + 8, as: UInt32.self)
                let event = base + 12
                raw.storeBytes(of: UInt64(index).littleEndian, toByteOffset: event, as: UInt64.self)
                raw.storeBytes(of: Int32(1).littleEndian, toByteOffset: event + 8, as: Int32.self)
                let failed: Int32 = generator.next() % 100 == 0 ? -16 : 0
                raw.storeBytes(of: failed.littleEndian, toByteOffset: event + 12, as: Int32.self)
                let isV6 = flow % 4 == 3
                raw.storeBytes(of: UInt16(isV6 ? 10 : 2).littleEndian, toByteOffset: event + 16, as: UInt16.self)
                raw.storeBytes(of: UInt16(truncatingIfNeeded: 10_000 + flow).littleEndian,
                               toByteOffset: event + 18, as: UInt16.self)
                raw.storeBytes(of: UInt16(7101).littleEndian, toByteOffset: event + 20, as: UInt16.self)
                let source: IPAddress = isV6
                    ? IPAddress(high: 0xFD00_0203_0000_0000, low: UInt64(flow >> 16) + 1)
                    : IPAddress(ipv4: 0x0ACB_0000 | UInt32(flow >> 16) + 1)
                let destination: IPAddress = isV6
                    ? IPAddress(high: 0xFD00_0203_0000_0000, low: 0x2)
                    : IPAddress(ipv4: 0x0ACB_0002)
                raw.storeBytes(of: source.high.bigEndian, toByteOffset: event + 24, as: UInt64.self)
                raw.storeBytes(of: source.low.bigEndian, toByteOffset: event + 32, as: UInt64.self)
                raw.storeBytes(of: destination.high.bigEndian, toByteOffset: event + 40, as: UInt64.self)
                raw.storeBytes(of: destination.low.bigEndian, toByteOffset: event + 48, as: UInt64.self)
                typealias Layout = RetransEvent.Layout
                raw.storeBytes(of: UInt16(1 + flow % 3).littleEndian, toByteOffset: event + Layout.segments, as: UInt16.self)
                raw.storeBytes(of: UInt32(4_026_531_840 + UInt32(flow % 8)).littleEndian,
                               toByteOffset: event + Layout.networkNamespace, as: UInt32.self)
                raw.storeBytes(of: UInt8(1 + flow % 3), toByteOffset: event + Layout.kind, as: UInt8.self)
                raw.storeBytes(of: UInt64(1000 + flow % 16).littleEndian, toByteOffset: event + Layout.cgroupID,
                               as: UInt64.self)
            }
        }
        return bytes
    }

    /// Events/s (by thread CPU time, by wall time) for: walk the record framing, decode,
    /// count, in batches of 4096 under the lock.
    static func decodeAndCountRate(flows: Int, maximumSeries: Int, events: Int) -> (cpu: Double, wall: Double) {
        let counter = FlowTableSource(configuration: MetricsConfiguration(maximumSeries: maximumSeries))
        let records = syntheticRecords(count: 16_384, flows: flows)
        // One pass to create the series, so the figure is the steady state.
        count(records, into: counter)
        let passes = max(1, events / 16_384)
        let elapsed = Elapsed.measure {
            for _ in 0..<passes { count(records, into: counter) }
        }
        let total = Double(passes * 16_384)
        return (total / (Double(elapsed.cpu) / 1e9), total / (Double(elapsed.wall) / 1e9))
    }

    private static func count(_ records: [UInt8], into counter: FlowTableSource) {
        records.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                counter.withTable { table in
                    var inBatch = 0
                    while inBatch < 4096, offset + 12 <= raw.count {
                        let size = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self)))
                        let rawSize = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)))
                        guard size >= 12, offset + 12 + rawSize <= raw.count else {
                            offset = raw.count
                            return
                        }
                        table.record(sample: UnsafeRawBufferPointer(rebasing: raw[(offset + 12)..<(offset + 12 + rawSize)]))
                        offset += size
                        inBatch += 1
                    }
                }
            }
        }
    }

    // MARK: render

    /// A state with `series` distinct flows (v4 and v6), each with a count.
    static func populatedState(series: Int) -> ExporterState {
        let source = populatedSource(series: series)
        return ExporterState(configuration: source.configuration, buildInfo: BuildInfo(version: "bench"), source: source)
    }

    /// `series` distinct flows (v4 and v6), each with a count.
    static func populatedSource(series: Int) -> FlowTableSource {
        let source = FlowTableSource(
            configuration: MetricsConfiguration(labels: .default, maximumSeries: series),
            kernelStatistics: { KernelStatistics(samplesLostByCPU: [(0, 0), (1, 0)], bpfEmitted: 0, bpfEmitFailed: 0) },
            tcpSegments: { TCPSegmentCounters(sent: 1, retransmitted: 0) })
        var generator = BenchmarkRandom(seed: 2)
        source.withTable { table in
            for flow in 0..<series {
                let isV6 = flow % 4 == 3
                let source: IPAddress = isV6
                    ? IPAddress(high: 0xFD00_0203_0000_0000 | (generator.next() & 0xFFFF), low: generator.next())
                    : IPAddress(ipv4: 0x0ACB_0000 | UInt32(truncatingIfNeeded: generator.next() & 0xFFFF))
                let destination: IPAddress = isV6
                    ? IPAddress(high: 0xFD00_0203_0000_0000, low: 2)
                    : IPAddress(ipv4: 0x0ACB_0002)
                let event = RetransEvent(
                    timestampNanoseconds: 0, state: 1, error: 0, family: isV6 ? 10 : 2,
                    sourcePort: UInt16(truncatingIfNeeded: flow), destinationPort: 7101,
                    sourceAddress: source, destinationAddress: destination)
                for _ in 0..<(1 + Int(generator.next() % 3)) { table.count(event) }
            }
        }
        return source
    }

    /// Steady scrapes timed per figure unless told: fewer of the slow ones.
    static func defaultScrapes(_ series: Int) -> Int { series >= 100_000 ? 11 : 31 }

    /// The first scrape (every series new), whole and, on a second table, streamed in chunks
    /// as the server does; and medians of later ones (no new series), whole and streamed.
    static func renderTimes(series: Int, runs: Int)
        -> (first: Elapsed, firstStreamed: Elapsed, steady: Elapsed, streamed: Elapsed, runs: Int, bytes: Int) {
        let streamedState = populatedState(series: series)
        let firstStreamed = Elapsed.measure { streamedState.scrape(chunkBytes: ScrapeCoordinator.chunkBytes) { _ in } }
        let state = populatedState(series: series)
        var bytes = 0
        let first = Elapsed.measure { bytes = state.scrape().readableBytes }
        var whole: [Elapsed] = []
        var streamed: [Elapsed] = []
        for _ in 0..<runs {
            whole.append(Elapsed.measure { _ = state.scrape() })
            streamed.append(Elapsed.measure { state.scrape(chunkBytes: ScrapeCoordinator.chunkBytes) { _ in } })
        }
        return (first, firstStreamed, median(whole), median(streamed), runs, bytes)
    }

    /// The first scrape and medians of later ones as served to a client that asks for gzip:
    /// streamed through the server's compressor (`CompressionBenchmark.gzipScrape`).
    static func gzipRenderTimes(series: Int, steadyScrapes: Int) -> (first: Elapsed, steady: Elapsed, runs: Int, bytes: Int) {
        let state = populatedState(series: series)
        var bytes = 0
        let first = Elapsed.measure { bytes = CompressionBenchmark.gzipScrape(state, format: .prometheusText) }
        var steady: [Elapsed] = []
        for _ in 0..<steadyScrapes {
            steady.append(Elapsed.measure { _ = CompressionBenchmark.gzipScrape(state, format: .prometheusText) })
        }
        return (first, median(steady), steadyScrapes, bytes)
    }

    /// The median; zero for no times (`--scrapes 0`).
    private static func median(_ times: [Elapsed]) -> Elapsed {
        guard !times.isEmpty else { return Elapsed() }
        return Elapsed(wall: times.map(\.wall).sorted()[times.count / 2], cpu: times.map(\.cpu).sorted()[times.count / 2])
    }

    // MARK: formatting

    private static func millions(_ rate: Double) -> String { decimal(rate / 1e6, places: 2) }
    private static func milliseconds(_ nanoseconds: UInt64) -> String { decimal(Double(nanoseconds) / 1e6, places: 2) }

    static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = UInt64((value * scale).rounded())
        let whole = scaled / UInt64(scale)
        let fraction = String(scaled % UInt64(scale))
        return "\(whole).\(String(repeating: "0", count: places - fraction.count))\(fraction)"
    }
}

/// Clocks in nanoseconds.
enum MonotonicClock {
    /// Wall time (CLOCK_MONOTONIC).
    static func nanoseconds() -> UInt64 { read(CLOCK_MONOTONIC) }

    /// CPU time of the calling thread: what "events/s on one core" means, unaffected by other
    /// processes taking the core away (these machines are shared).
    static func threadCPUNanoseconds() -> UInt64 { read(CLOCK_THREAD_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// Wall and thread-CPU time of one measured stretch.
struct Elapsed {
    var wall: UInt64 = 0
    var cpu: UInt64 = 0

    static func measure(_ body: () -> Void) -> Elapsed {
        let wall = MonotonicClock.nanoseconds()
        let cpu = MonotonicClock.threadCPUNanoseconds()
        body()
        return Elapsed(wall: MonotonicClock.nanoseconds() - wall, cpu: MonotonicClock.threadCPUNanoseconds() - cpu)
    }
}

/// This process's resident set size, from /proc/self/status.
enum ResidentMemory {
    /// VmRSS in KiB, nil when unreadable.
    static func kibibytes(field: String = "VmRSS") -> Int? {
        guard let status = try? SystemFile.readString("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    static func text() -> String {
        let rss = kibibytes().map { MetricsBenchmark.decimal(Double($0) / 1024, places: 1) } ?? "?"
        let peak = kibibytes(field: "VmHWM").map { MetricsBenchmark.decimal(Double($0) / 1024, places: 1) } ?? "?"
        return "\(rss) MiB (peak \(peak) MiB)"
    }
}

/// xorshift64*: cheap, reproducible data for the benchmark.
struct BenchmarkRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
