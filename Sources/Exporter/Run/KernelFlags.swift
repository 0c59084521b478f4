import ArgumentParser
import BPFSyscall

/// Flags shared by `run` and `tail`: which object, how the rings are read.
struct KernelFlags: ParsableArguments {
    @Option(name: .customLong("bpf.object"),
            help: "Load this BPF object instead of the retrans.o embedded in the binary.")
    var objectPath: String?

    @Option(name: .customLong("ring.pages"),
            help: "Data pages per CPU ring, a power of two (256 = 1 MiB with 4 KiB pages).")
    var ringPages = 1 << PerfRingOptions.defaultDataPageExponent

    @Option(name: .customLong("ring.wakeup"),
            help: "batched: the kernel wakes the reader once a quarter ring is written (cheap); every-event: once per event (lowest latency, ~3x the in-kernel cost).")
    var ringWakeup: RingWakeupChoice = .batched

    @Option(name: .customLong("ring.drain-interval"),
            help: "Read every ring at least this often, e.g. 500ms or 1s (records below the wakeup watermark wait at most this long).")
    var drainInterval = DurationFlag(milliseconds: 500)

    @Flag(name: .customLong("verbose"), help: "Show the full verifier log when a program is rejected.")
    var verbose = false

    func validate() throws {
        guard ringPages > 0, ringPages & (ringPages - 1) == 0,
              ringPages <= 1 << PerfRingOptions.maximumDataPageExponent else {
            throw ValidationError("--ring.pages \(ringPages): choose a power of two from 1 to \(1 << PerfRingOptions.maximumDataPageExponent)")
        }
    }

    /// Loads, opens the rings, attaches; a failure becomes `error: ...` and exit code 1.
    func openSession<Sink: PerfEventSink>(sink: sending Sink) throws -> KernelSession<Sink> {
        do {
            return try KernelSession(options: kernelOptions, sink: sink)
        } catch {
            throw commandFailure(error, verbose: verbose)
        }
    }

    var kernelOptions: KernelOptions {
        var options = KernelOptions(objectPath: objectPath)
        options.rings = PerfRingOptions(dataPageExponent: ringPages.trailingZeroBitCount,
                                        wakeup: ringWakeup == .batched ? .batched : .everyEvent)
        options.drainInterval = drainInterval.duration
        return options
    }
}

enum RingWakeupChoice: String, ExpressibleByArgument, CaseIterable {
    case batched
    case everyEvent = "every-event"
}

/// A duration written as Prometheus writes them: `250ms`, `2s`, `1m`.
struct DurationFlag: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var milliseconds: Int

    init(milliseconds: Int) { self.milliseconds = milliseconds }

    init?(argument: String) {
        let units: [(suffix: String, scale: Int)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        for unit in units where argument.hasSuffix(unit.suffix) {
            guard let value = Int(argument.dropLast(unit.suffix.count)), value > 0,
                  value <= 3_600_000 / unit.scale else { return nil }
            self.milliseconds = value * unit.scale
            return
        }
        return nil
    }

    var duration: Duration { .milliseconds(milliseconds) }
    var description: String { milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms" }
    var defaultValueDescription: String { description }
}
