import BPFSyscall

/// Flags shared by `run` and `tail`: which object, how the rings are read.
struct KernelFlags: Sendable {
    static func options(drainIntervalDefault: String) -> [OptionSpec] {
        [
            .value("bpf.object", "PATH",
                   help: "Load this BPF object instead of the retrans.o embedded in the binary."),
            .value("bpf.attach", "KIND", default: AttachChoice.automatic.rawValue,
                   help: "tp_btf: the BTF-typed tracepoint, reading the kernel's struct sock with CO-RE (needs /sys/kernel/btf/vmlinux); tracepoint: the classic tracepoint's record (needs tracefs); auto: tp_btf where the kernel has BTF."),
            .value("ring.kind", "KIND", default: RingKindChoice.automatic.rawValue,
                   help: "ringbuf: one BPF ring buffer for every CPU (Linux 5.8+); perf: one perf ring per CPU; auto: ringbuf where the kernel has it, else perf."),
            .value("ring.pages", "N", default: String(1 << PerfRingOptions.defaultDataPageExponent),
                   help: "Data pages of the ring buffer, or of each CPU's perf ring: a power of two (256 = 1 MiB with 4 KiB pages)."),
            .value("ring.wakeup", "MODE", default: RingWakeupChoice.batched.rawValue,
                   help: "batched: the kernel wakes the reader once a quarter ring is written (cheap); every-event: once per event (lowest latency, about 3x the in-kernel cost)."),
            .value("ring.drain-interval", "DURATION", default: drainIntervalDefault,
                   help: "Read every ring at least this often, e.g. 500ms or 1s (records below the wakeup watermark wait at most this long)."),
            .flag("bpf.run-time-stats", help: "Export retrans_exporter_bpf_run_count_total and _run_seconds_total: turns on the kernel's BPF run-time statistics (BPF_ENABLE_STATS), which then times every BPF program on the host, not only ours (70-110 ns per run measured here)."),
            .flag("verbose", help: "Show the full verifier log when a program is rejected."),
        ]
    }

    var objectPath: String?
    var attach: AttachChoice
    var ringKind: RingKindChoice
    var ringPages: Int
    var ringWakeup: RingWakeupChoice
    var drainInterval: Duration
    var runTimeStatistics: Bool
    var verbose: Bool
    /// Set by the command, not a flag: `tail` shows each event's time, `run` does not.
    var eventTimestamps = true

    init(_ arguments: ParsedArguments) throws(UsageError) {
        objectPath = arguments.value("bpf.object")
        attach = try arguments.defaultedChoice("bpf.attach", AttachChoice.self)
        ringKind = try arguments.defaultedChoice("ring.kind", RingKindChoice.self)
        let maximumPages = 1 << PerfRingOptions.maximumDataPageExponent
        ringPages = try arguments.defaultedValue(
            "ring.pages", accepts: "a power of two from 1 to \(maximumPages)"
        ) { text in
            Int(text).flatMap { $0 > 0 && $0 <= maximumPages && $0 & ($0 - 1) == 0 ? $0 : nil }
        }
        ringWakeup = try arguments.defaultedChoice("ring.wakeup", RingWakeupChoice.self)
        drainInterval = try arguments.defaultedValue(
            "ring.drain-interval", accepts: "a duration from 1ms to 1h such as 250ms, 2s or 1m", parseDuration)
        runTimeStatistics = arguments.flag("bpf.run-time-stats")
        verbose = arguments.flag("verbose")
    }

    /// Phase 1 (`KernelSession`); a failure becomes `error: ...` and exit status 1.
    func openSession<Sink: PerfEventSink>(sink: sending Sink, steps: inout StartupSteps) throws
        -> KernelSession<Sink> {
        do {
            return try KernelSession(options: kernelOptions, sink: sink, steps: &steps)
        } catch {
            throw commandFailure(error, verbose: verbose)
        }
    }

    var kernelOptions: KernelOptions {
        var options = KernelOptions(objectPath: objectPath)
        options.runTimeStatistics = runTimeStatistics
        options.eventTimestamps = eventTimestamps
        options.rings = PerfRingOptions(dataPageExponent: ringPages.trailingZeroBitCount,
                                        wakeup: ringWakeup == .batched ? .batched : .everyEvent)
        options.transport = switch ringKind {
        case .perf: .perf
        case .ringBuffer: .ringBuffer
        case .automatic: nil
        }
        options.attachment = switch attach {
        case .tracepoint: .tracepoint
        case .btf: .btf
        case .automatic: nil
        }
        return options
    }
}

enum AttachChoice: String, CaseIterable, Sendable {
    case automatic = "auto"
    case tracepoint
    case btf = "tp_btf"
}

enum RingKindChoice: String, CaseIterable, Sendable {
    case automatic = "auto"
    case perf
    case ringBuffer = "ringbuf"
}

enum RingWakeupChoice: String, CaseIterable, Sendable {
    case batched
    case everyEvent = "every-event"
}

/// A duration written as Prometheus writes them: `250ms`, `2s`, `1m`.
func parseDuration(_ text: String) -> Duration? {
    let units: [(suffix: String, milliseconds: Int)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
    for unit in units where text.hasSuffix(unit.suffix) {
        guard let value = Int(text.dropLast(unit.suffix.count)), value > 0,
              value <= 3_600_000 / unit.milliseconds else { return nil }
        return .milliseconds(value * unit.milliseconds)
    }
    return nil
}
