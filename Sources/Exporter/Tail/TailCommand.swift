import ArgumentParser
import BPFSyscall
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `retrans-exporter tail`: every retransmission as it happens, one line each.
struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print each TCP retransmission as it happens (like tcpretrans).")

    @OptionGroup var kernel: KernelFlags

    @Flag(help: "One JSON object per line instead of text.")
    var json = false

    @Option(help: "Exit after this many events (0: run until SIGINT/SIGTERM).")
    var count = 0

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count \(count): must be 0 or more") }
    }

    func run() throws {
        TerminationSignals.block()
        var kernelOptions = kernel
        // A person is watching: read the rings often by default.
        if kernelOptions.drainInterval.milliseconds == 500 { kernelOptions.drainInterval = DurationFlag(milliseconds: 100) }
        let output = TailOutput(formatter: TailFormatter(clock: WallClock(), json: json), limit: count)
        let session = try kernelOptions.openSession(sink: TailSink(output: output))
        let poller = session.poller
        let drainInterval = kernelOptions.drainInterval.duration
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
    private let printed = Mutex<Int>(0)

    init(formatter: TailFormatter, limit: Int) {
        self.formatter = formatter
        self.limit = limit
    }

    func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    func event(_ event: RetransEvent) {
        let done: Bool = printed.withLock { count in
            guard limit == 0 || count < limit else { return false }
            write(formatter.line(for: event))
            count += 1
            return count == limit
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
