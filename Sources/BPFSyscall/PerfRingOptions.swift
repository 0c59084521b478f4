/// How big each per-CPU ring is and when the kernel wakes the reader.
public struct PerfRingOptions: Sendable, Equatable {
    /// The data area of each ring is 2^`dataPageExponent` pages (plus one metadata page).
    public var dataPageExponent: Int
    public var wakeup: PerfRingWakeup

    /// 2^8 pages = 1 MiB per CPU by default. Sized for zero loss at 200k events/s
    /// with every event on one CPU: a `retrans_event` sample takes 72 bytes of ring
    /// (8 header + 4 size + 56 event padded to 60), so 14.4 MB/s; 1 MiB holds 73 ms
    /// of that, and with the default quarter-ring watermark the woken reader has
    /// 55 ms to get scheduled. Measured on the 2-CPU test machine under other
    /// builds' load (PerfRingCostBenchmark, RTX_RING_SWEEP): 1 MiB lost nothing in
    /// 15 runs of 600k events at 200k/s; 512 KiB lost 0.1-1.6% in 4 of 15, 256 KiB
    /// lost in most. The cost is 1 MiB of locked memory per CPU (resident once written).
    public static let defaultDataPageExponent = 8
    /// 2^12 pages = 16 MiB per CPU: a ring this size locks a lot of memory per CPU already.
    public static let maximumDataPageExponent = 12

    public init(dataPageExponent: Int = defaultDataPageExponent, wakeup: PerfRingWakeup = .batched) {
        self.dataPageExponent = dataPageExponent
        self.wakeup = wakeup
    }

    /// Bytes in each ring's data area for a page size.
    public func dataSize(pageSize: Int) -> Int {
        pageSize << dataPageExponent
    }
}

/// When the kernel wakes a reader blocked in epoll on a ring.
public enum PerfRingWakeup: Sendable, Equatable {
    /// After every sample (`wakeup_events = 1`): lowest latency, one interrupt and
    /// one reader wakeup per event.
    case everyEvent
    /// Once `bytes` have been written since the last wakeup (`watermark = 1`,
    /// `wakeup_watermark`). Records below the watermark wait for a drain.
    case watermark(bytes: Int)
    /// A watermark at 1/`divisor` of the data area: the rest of the ring is the
    /// room the kernel still has while the woken reader gets scheduled.
    case ringFraction(divisor: Int)

    /// A quarter of the ring: few wakeups (one per 1/4 ring of records), and
    /// three quarters of the ring left for the reader's scheduling delay.
    public static let batched = PerfRingWakeup.ringFraction(divisor: 4)

    /// The `wakeup_events` / `wakeup_watermark` value and whether it is a watermark.
    func attribute(dataSize: Int) -> (value: UInt32, isWatermark: Bool) {
        switch self {
        case .everyEvent:
            return (1, false)
        case let .watermark(bytes):
            return (UInt32(clamping: max(1, min(bytes, dataSize))), true)
        case let .ringFraction(divisor):
            return (UInt32(clamping: max(1, dataSize / max(1, divisor))), true)
        }
    }
}

/// What one CPU's ring has delivered so far.
public struct PerfRingStatistics: Sendable, Equatable {
    public var cpu: Int
    /// Samples handed to the sink.
    public var samples: UInt64 = 0
    /// Samples the kernel dropped because the ring was full (`PERF_RECORD_LOST`).
    public var lost: UInt64 = 0
    /// Passes that stopped on bytes that could not be framed (then skipped to the head).
    public var framingErrors: UInt64 = 0
    /// Records of types a BPF output event should not produce, skipped.
    public var otherRecords: UInt64 = 0
    public var lastFramingError: RingFramingError?

    public init(cpu: Int) {
        self.cpu = cpu
    }

    mutating func add(_ pass: RingPass) {
        samples &+= UInt64(pass.samples)
        lost &+= pass.lost
        otherRecords &+= UInt64(pass.otherRecords)
        if let error = pass.framingError {
            framingErrors &+= 1
            lastFramingError = error
        }
    }
}
