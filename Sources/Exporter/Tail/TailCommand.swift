import BPFSyscall
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `retrans-exporter tail`: every retransmission as it happens, one line each.
struct TailCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "tail",
        abstract: "Print each TCP retransmission as it happens (like tcpretrans).",
        // A person is watching: read the rings often by default.
        options: KernelFlags.options(drainIntervalDefault: "100ms") + [
            .flag("json", help: "One JSON object per line instead of text."),
            .value("count", "N", default: "0", help: "Exit after this many events (0: run until SIGINT or SIGTERM)."),
        ])

    var kernel: KernelFlags
    var json: Bool
    var count: Int

    init(_ arguments: ParsedArguments) throws(UsageError) {
        kernel = try KernelFlags(arguments)
        json = arguments.flag("json")
        count = try arguments.defaultedInteger("count", in: 0...Int(Int32.max))
    }

    func run() throws {
        TerminationSignals.block()
        let output = TailOutput(formatter: TailFormatter(clock: WallClock(), json: json), limit: count)
        var steps = StartupSteps()
        let session = try kernel.openSession(sink: TailSink(output: output), steps: &steps)
        let attribution = WorkloadAttribution.start(attachment: session.binding.choice.attachment)
        output.resolveCgroups(with: attribution.resolver)
        for notice in attribution.notices { writeStandardError("note: \(notice)\n") }
        let poller = session.poller
        let drainInterval = kernel.drainInterval
        if !json { output.write(TailFormatter.header) }
        let ringThread = try DedicatedThread(name: "rings") {
            do { try poller.run(drainInterval: drainInterval) } catch {
                writeStandardError("error: reading the perf rings failed: \(error)\n")
            }
        }
        // Ends on a signal, or when the sink has printed `--count` events (it raises SIGTERM).
        _ = TerminationSignals.wait()
        session.close()
        ringThread.join()
        // Detached: print what is still in the rings (batched wakeups leave events
        // below the watermark until the next timed drain).
        poller.drain()
    }
}

/// Writes lines to stdout; after `limit` events asks the main thread to stop.
final class TailOutput: Sendable {
    let formatter: TailFormatter
    let limit: Int
    /// Lines printed, and the cgroup resolver (nil: no cgroup2 mount or no BTF).
    private let state: Mutex<(printed: Int, cgroups: CgroupPathResolver?)>

    init(formatter: TailFormatter, limit: Int) {
        self.formatter = formatter
        self.limit = limit
        state = Mutex((0, nil))
    }

    /// Before the ring thread starts: where cgroup ids get their paths.
    func resolveCgroups(with resolver: CgroupPathResolver?) {
        state.withLock { $0.cgroups = resolver }
    }

    func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    func event(_ event: RetransEvent) {
        let done: Bool = state.withLock { state in
            guard limit == 0 || state.printed < limit else { return false }
            let cgroup = event.cgroupID == 0 ? nil : state.cgroups?.path(of: event.cgroupID)
            write(formatter.line(for: event, cgroupPath: cgroup))
            state.printed += 1
            return state.printed == limit
        }
        if done { kill(getpid(), SIGTERM) }
    }
}

struct TailSink: PerfEventSink {
    let output: TailOutput

    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
        guard let event = try? RetransEvent.decode(sample) else {
            writeStandardError("warning: undecodable event record of \(sample.count) bytes on CPU \(cpu)\n")
            return
        }
        output.event(event)
    }

    mutating func lost(cpu: Int, count: UInt64) {
        writeStandardError("warning: lost \(count) events on CPU \(cpu) (ring full; try a larger --ring.pages)\n")
    }
}
