import CBPFSyscall
import Synchronization

/// Receives what the rings deliver. Calls never overlap: the poller makes them
/// under its lock, from the poll thread or from a thread calling `drain()`.
public protocol PerfEventSink {
    /// One sample's raw bytes as the kernel framed them: padded, so trim to your
    /// event size. Valid only during the call: copy what you keep.
    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer)
    /// The kernel dropped `count` samples on `cpu` because its ring was full.
    mutating func lost(cpu: Int, count: UInt64)
}

/// What a drain read, summed over the rings.
public struct DrainSummary: Sendable, Equatable {
    public var samples: Int = 0
    public var lost: UInt64 = 0
    public var framingErrors: Int = 0

    public init(samples: Int = 0, lost: UInt64 = 0, framingErrors: Int = 0) {
        self.samples = samples
        self.lost = lost
        self.framingErrors = framingErrors
    }
}

/// How events reach user space.
public enum RingTransport: String, Sendable, Equatable {
    /// One perf ring per CPU (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`, `bpf_perf_event_output`).
    case perf
    /// One BPF ring buffer for every CPU (`BPF_MAP_TYPE_RINGBUF`, reserve/submit; Linux 5.8+).
    case ringBuffer = "ringbuf"
}

/// The rings one poll loop reads: per-CPU perf rings, or one BPF ring buffer.
///
/// Ownership and threads:
/// - The poller owns the rings and the sink, inside one `Mutex`. Ring reads and
///   sink calls happen only with that lock held, so they never race, whichever
///   thread makes them.
/// - `run` blocks in `epoll_wait` (without the lock) on every ring fd plus a
///   shutdown eventfd: call it on a dedicated thread (`DedicatedThread`), never in
///   a Swift Task, whose cooperative pool it would starve.
/// - `stop`, `drain`, `withSink` and `statistics` may be called from any thread.
///   A drain reads every ring at once on the caller's thread; the poll thread
///   waits for the lock meanwhile. A drain holds the lock for one pass over the
///   rings (at most their size in records), so it never waits long.

public final class PerfEventPoller<Sink: PerfEventSink>: Sendable {
    private struct State {
        var rings: [any EventRing]
        var sink: Sink
    }

    private let state: Mutex<State>
    private let syscalls: Syscalls
    private let epoll: FileDescriptor
    private let shutdown: FileDescriptor
    private let ringCount: Int
    /// The CPUs with a perf ring, in ring order; empty for the ring buffer.
    public let cpus: [Int]
    /// Bytes in each ring's data area.
    public let ringDataSize: Int
    /// How events reach user space.
    public let transport: RingTransport

    private static var shutdownToken: UInt64 { .max }

    /// Opens a ring on each CPU in `cpus` (default: every online CPU), stores it in
    /// the perf event array `map` and prepares the epoll set. The map keeps the
    /// events alive (and the program writing) until the map itself is closed.
    public convenience init(perfEventArray map: LoadedMap, cpus: [Int]? = nil,
                            options: PerfRingOptions = PerfRingOptions(), sink: sending Sink) throws(PerfRingError) {
        let rings = try PerfRingSet.open(perfEventArray: map, cpus: cpus, options: options, syscalls: map.syscalls)
        try self.init(rings: rings, transport: .perf, syscalls: map.syscalls, sink: sink)
    }

    /// Reads the BPF ring buffer `map` (`BPF_MAP_TYPE_RINGBUF`): one ring for every CPU.
    public convenience init(ringBuffer map: LoadedMap, sink: sending Sink) throws(PerfRingError) {
        let ring = try BPFRingBuffer(map: map, syscalls: map.syscalls)
        try self.init(rings: [ring], transport: .ringBuffer, syscalls: map.syscalls, sink: sink)
    }

    private init(rings: sending [any EventRing], transport: RingTransport, syscalls: Syscalls,
                 sink: sending Sink) throws(PerfRingError) {
        let epoll: FileDescriptor
        let shutdown: FileDescriptor
        do {
            epoll = try syscalls.createEpoll()
        } catch { throw .syscall(cpu: nil, error) }
        do {
            shutdown = try syscalls.createEventFD()
        } catch { throw .syscall(cpu: nil, error) }
        do {
            for (index, ring) in rings.enumerated() {
                try syscalls.addToEpoll(epoll.rawValue, fd: ring.pollDescriptor, edgeTriggered: ring.pollsEdgeTriggered,
                                        token: UInt64(index))
            }
            try syscalls.addToEpoll(epoll.rawValue, fd: shutdown.rawValue, token: Self.shutdownToken)
        } catch { throw .syscall(cpu: nil, error) }
        self.cpus = transport == .perf ? rings.map(\.cpu) : []
        self.ringCount = rings.count
        self.ringDataSize = rings.first?.dataSize ?? 0
        self.transport = transport
        self.syscalls = syscalls
        self.epoll = epoll
        self.shutdown = shutdown
        self.state = Mutex(State(rings: rings, sink: sink))
    }

    /// Reads rings as the kernel signals them until `stop()`. With a
    /// `drainInterval`, also reads every ring at least that often, so records
    /// below a wakeup watermark are delivered within the interval.
    /// Returns after `stop()`; records that arrive after that stay for a `drain()`.
    public func run(drainInterval: Duration? = nil) throws(SyscallError) {
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: ringCount + 1)
        defer { events.deallocate() }
        let clock = ContinuousClock()
        var nextDrain = drainInterval.map { clock.now + $0 }
        while true {
            let timeout = nextDrain.map { Self.milliseconds(until: $0, clock: clock) } ?? -1
            let ready = try syscalls.waitForEvents(epoll.rawValue, into: events, timeoutMilliseconds: timeout)
            var drainAll = false
            if let deadline = nextDrain, let interval = drainInterval {
                let now = clock.now
                if now >= deadline {
                    drainAll = true
                    nextDrain = now + interval
                }
            }
            let stopping = state.withLock { state -> Bool in
                var stopping = false
                for event in events[0..<ready] {
                    let token = event.data.u64
                    if token == Self.shutdownToken {
                        stopping = true
                    } else if !drainAll, token < UInt64(state.rings.count) {
                        Self.read(ring: Int(token), in: &state)
                    }
                }
                if drainAll { _ = Self.readAll(&state) }
                return stopping
            }
            if stopping { return }
        }
    }

    /// Wakes `run` and makes it return; later `run` calls return at once.
    public func stop() {
        syscalls.signal(eventFD: shutdown.rawValue)
    }

    /// Reads every ring now, without waiting for a wakeup: for a timer or a scrape.
    @discardableResult
    public func drain() -> DrainSummary {
        state.withLock { Self.readAll(&$0) }
    }

    /// Reads every ring, then runs `body` on the sink and the rings' statistics, all under
    /// one hold of the lock: what `body` sees includes every record published before the
    /// call, and no record is half counted. For a scrape: drain and snapshot in one step.
    public func drain<Result: Sendable>(then body: (inout Sink, [PerfRingStatistics]) -> Result) -> Result {
        state.withLock { state in
            _ = Self.readAll(&state)
            return body(&state.sink, state.rings.map(\.statistics))
        }
    }

    /// Runs `body` on the sink with the poller's lock held: no ring is read meanwhile.
    public func withSink<Result: Sendable>(_ body: (inout Sink) -> Result) -> Result {
        state.withLock { body(&$0.sink) }
    }

    /// Per-CPU counts of samples, lost samples and framing errors so far.
    public func statistics() -> [PerfRingStatistics] {
        state.withLock { $0.rings.map(\.statistics) }
    }

    private static func readAll(_ state: inout State) -> DrainSummary {
        var summary = DrainSummary()
        for index in state.rings.indices {
            let pass = read(ring: index, in: &state)
            summary.samples += pass.samples
            summary.lost &+= pass.lost
            summary.framingErrors += pass.framingError == nil ? 0 : 1
        }
        return summary
    }

    @discardableResult
    private static func read(ring index: Int, in state: inout State) -> RingPass {
        let ring = state.rings[index]
        let cpu = ring.cpu
        let pass = ring.read { state.sink.receive(cpu: cpu, sample: $0) }
        if pass.lost > 0 { state.sink.lost(cpu: cpu, count: pass.lost) }
        return pass
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant, clock: ContinuousClock) -> Int32 {
        let remaining = clock.now.duration(to: deadline)
        if remaining <= .zero { return 0 }
        let (seconds, attoseconds) = remaining.components
        // Round up so that the wait does not end just before the deadline and spin.
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }
}
