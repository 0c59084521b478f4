import BPFSyscall
import Synchronization

/// `retrans-exporter bench-hot-path`: hidden; the exact per-event path of `run`, without a kernel.
///
/// Synthetic records sit in a 1 MiB fake ring; `RingRecordReader` frames them (as `PerfRing` does)
/// and hands each sample to the flow table, `run`'s sink, under one lock per ring pass (as the
/// poller holds its lock), so the figure includes the framing, the lock, the decode, the hash
/// probe and the increment. The ring is read a quarter at a time, like one batched wakeup. Also the target for
/// `valgrind --tool=callgrind` (instructions per event: `make bench` runs it twice with
/// different event counts and divides the difference).
struct HotPathBenchCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "bench-hot-path",
        abstract: "Decode+count rate through the ring framing and the run command's sink (synthetic ring).",
        options: [
            .value("events", "N", default: "30000000", help: "Events to decode and count (after one warm-up pass over the ring)."),
            .value("flows", "N", default: "1000", help: "Distinct flows in the synthetic records."),
            .value("max-series", "N", default: "10000", help: "--metrics.max-series of the flow table."),
        ],
        hidden: true)

    var events: Int
    var flows: Int
    var maxSeries: Int

    init(_ arguments: ParsedArguments) throws(UsageError) {
        events = try arguments.defaultedInteger("events", in: 1...Int(Int32.max))
        flows = try arguments.defaultedInteger("flows", in: 1...10_000_000)
        maxSeries = try arguments.defaultedInteger("max-series", in: 0...MetricsConfiguration.seriesLimit)
    }

    func run() throws {
        let table = Mutex(FlowTable(selection: .default, maximumSeries: maxSeries))
        let ring = try SyntheticRing(flows: flows)
        // Warm-up: creates the series, so the timed part is the steady state.
        ring.readLap(into: table)
        let laps = max(1, (events + ring.recordsPerLap - 1) / ring.recordsPerLap)
        let elapsed = Elapsed.measure {
            for _ in 0..<laps { ring.readLap(into: table) }
        }
        let total = Double(laps * ring.recordsPerLap)
        let perEventCPU = Double(elapsed.cpu) / total
        print("hot path (ring framing + run's flow table, lock per ring pass), \(flows) flows, cap \(maxSeries): "
            + "\(MetricsBenchmark.decimal(1e3 / perEventCPU, places: 2)) M events/s "
            + "[wall \(MetricsBenchmark.decimal(total / (Double(elapsed.wall) / 1e9) / 1e6, places: 2))], "
            + "\(MetricsBenchmark.decimal(perEventCPU, places: 1)) ns/event   target >= 5 M events/s")
        print("events counted: \(laps * ring.recordsPerLap + ring.recordsPerLap) series: \(table.withLock { $0.seriesCount })")
    }
}

/// A 1 MiB ring holding as many sample records (the kernel's framing of an event, 88 bytes)
/// as fit without wrapping. `readLap` frames them in four passes of a quarter ring each.
private struct SyntheticRing: ~Copyable {
    static let size = 1 << 20
    let bytes: UnsafeMutableRawBufferPointer
    let reader: RingRecordReader
    let recordsPerLap: Int
    private var recordSize: Int { MetricsBenchmark.syntheticRecordSize }

    init(flows: Int) throws {
        let records = MetricsBenchmark.syntheticRecords(count: Self.size / MetricsBenchmark.syntheticRecordSize, flows: flows)
        let ring = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.size, alignment: 8)
        ring.initializeMemory(as: UInt8.self, repeating: 0)
        records.withUnsafeBytes { ring.copyMemory(from: $0) }
        bytes = ring
        recordsPerLap = Self.size / MetricsBenchmark.syntheticRecordSize
        reader = try RingRecordReader(data: UnsafeRawBufferPointer(bytes))
    }

    deinit { bytes.deallocate() }

    func readLap(into table: borrowing Mutex<FlowTable>) {
        let quarter = recordsPerLap / 4
        var tail: UInt64 = 0
        for pass in 0..<4 {
            let count = pass == 3 ? recordsPerLap - 3 * quarter : quarter
            let head = tail + UInt64(count * recordSize)
            table.withLock { table in
                _ = reader.read(head: head, tail: tail) { table.receive(cpu: 0, sample: $0) }
            }
            tail = head
        }
    }
}
