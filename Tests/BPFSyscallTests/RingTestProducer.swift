import BPFSyscall
import CBPFSyscall
import CRingTestSupport
import ELFReader
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Fixtures/producer.o loaded and attached to `syscalls/sys_enter_getppid`:
/// one `retrans_event` per getppid(2) by the target thread, with its own
/// count of successful and failed emits in `control`.
final class RingTestProducer {
    /// Slots of `control` (see producer.c).
    static let targetSlot: UInt32 = 0
    static let emittedSlot: UInt32 = 1
    static let failedSlot: UInt32 = 2
    /// producer.c writes it at the `dport` offset of every event.
    static let mark: UInt16 = 7201

    let object: LoadedObject
    let attachment: TracepointAttachment
    let events: LoadedMap
    let control: LoadedMap
    let program: LoadedProgram

    init() throws {
        let object = try LoadedObject(loading: try TestObjects.fixture("producer.o"))
        guard let events = object.map(named: "events"), let control = object.map(named: "control"),
              let program = object.program(named: "produce") else {
            throw ProducerFixtureError(reason: "producer.o lacks `events`, `control` or `produce`")
        }
        self.attachment = try object.attach(program: "produce")
        self.events = events
        self.control = control
        self.program = program
        self.object = object
    }

    /// Only thread `tid` produces from now on (0: nobody).
    static func target(_ control: LoadedMap, thread tid: Int32) throws {
        try control.update(key: littleEndian(UInt64(targetSlot), count: 4),
                           value: littleEndian(UInt64(UInt32(bitPattern: tid)), count: 8))
    }

    /// The program's own counts of `bpf_perf_event_output` results.
    func emits() throws -> (succeeded: UInt64, failed: UInt64) {
        (try counter(Self.emittedSlot), try counter(Self.failedSlot))
    }

    private func counter(_ slot: UInt32) throws -> UInt64 {
        guard let bytes = try control.lookup(key: Self.littleEndian(UInt64(slot), count: 4)) else { return 0 }
        return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// Makes `calls` getppid(2) calls from a new thread pinned to `cpu`, the only
    /// thread the producer counts meanwhile; returns the nanoseconds the calls took.
    /// `perSecond` paces them (busy-waiting); nil makes them as fast as possible.
    func produce(calls: UInt64, onCPU cpu: Int, perSecond: UInt64? = nil) throws -> UInt64 {
        let control = self.control
        return try onPinnedThread(cpu: cpu) {
            try Self.target(control, thread: rtx_thread_id())
            defer { _ = try? Self.target(control, thread: 0) }
            if let perSecond {
                return rtx_getppid_paced(calls, perSecond)
            }
            let start = ContinuousClock.now
            rtx_getppid_calls(calls)
            let elapsed = ContinuousClock.now - start
            return UInt64(elapsed.components.seconds) * 1_000_000_000
                + UInt64(elapsed.components.attoseconds / 1_000_000_000)
        }
    }
}

struct ProducerFixtureError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// Runs `body` on a new thread pinned to `cpu` and waits for it.
func onPinnedThread<T: Sendable>(cpu: Int, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let outcome = Locked<Result<T, any Error>?>(nil)
    let thread = try DedicatedThread(name: "rtx-rg-pinned") {
        let pinned = rtx_pin_current_thread(Int32(cpu))
        let result: Result<T, any Error>
        if pinned != 0 {
            result = .failure(ProducerFixtureError(reason: "cannot pin a thread to cpu \(cpu): errno \(-pinned)"))
        } else {
            result = Result { try body() }
        }
        outcome.withLock { $0 = result }
    }
    thread.join()
    guard let result = outcome.withLock({ $0 }) else {
        throw ProducerFixtureError(reason: "pinned thread ended without a result")
    }
    return try result.get()
}

/// Counts what the rings deliver per CPU, checking every sample is a producer
/// event (raw size at least `retrans_event`, the mark at the `dport` offset).
struct CountingSink: PerfEventSink, Sendable {
    static let dportOffset = MemoryLayout<retrans_event>.offset(of: \.dport) ?? 20
    static let eventSize = MemoryLayout<retrans_event>.size

    var samples: [Int]
    var lost: [UInt64]
    var foreign = 0

    init(cpuSlots: Int = 1024) {
        samples = Array(repeating: 0, count: cpuSlots)
        lost = Array(repeating: 0, count: cpuSlots)
    }

    var totalSamples: Int { samples.reduce(0, +) }
    var totalLost: UInt64 { lost.reduce(0, +) }

    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
        guard sample.count >= Self.eventSize,
              sample.loadUnaligned(fromByteOffset: Self.dportOffset, as: UInt16.self) == RingTestProducer.mark
        else {
            foreign += 1
            return
        }
        samples[cpu] += 1
    }

    mutating func lost(cpu: Int, count: UInt64) {
        lost[cpu] += count
    }
}

/// The poll loop on its own thread, as the exporter runs it.
final class PollThread: Sendable {
    let thread: DedicatedThread
    private let failure = Locked<(any Error)?>(nil)

    /// Starts `poller.run(drainInterval:)` on a dedicated thread.
    convenience init(_ poller: PerfEventPoller<CountingSink>, drainInterval: Duration? = nil) throws {
        try self.init { try poller.run(drainInterval: drainInterval) }
    }

    init(_ run: @escaping @Sendable () throws -> Void) throws {
        let failure = self.failure
        thread = try DedicatedThread(name: "rtx-rg-poll") {
            do {
                try run()
            } catch {
                failure.withLock { $0 = error }
            }
        }
    }

    /// Joins the thread (after the poller's `stop()`) and reports a poll failure.
    func join() throws {
        thread.join()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// A value behind a lock, shareable by reference between threads.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
