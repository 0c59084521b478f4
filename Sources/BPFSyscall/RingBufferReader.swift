/// Frames the records of a BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`), the one ring
/// every CPU writes into: a data area of 2^n bytes, mapped once; free-running `u64`
/// producer (the kernel's) and consumer (ours) positions; before each record an
/// 8-byte header, a `u32` length carrying two flags and a `u32` page offset
/// (kernel-internal); records padded to 8 bytes.
///
/// - Busy bit (31): reserved but not yet submitted. Records are consumed in
///   order, so the pass stops there; the next pass continues from it.
/// - Discard bit (30): submitted empty (`bpf_ringbuf_discard`): skipped.
///
/// The header never wraps: the kernel (`__bpf_ringbuf_reserve`) starts at 0 and
/// advances by `round_up(length + 8, 8)`, and the area is a power of two of at
/// least 8 bytes, so a header starts at most 8 bytes before the end. The sample
/// after it may run past the end and continue at the start: such a sample is
/// copied into a scratch buffer (allocated once here), every other one is handed
/// over in place. (The kernel lays the area out twice in a row, and libbpf maps
/// both copies so that no sample wraps; but the kernel inserts every page at
/// `mmap`, so the second copy would count the area twice in the RSS.)
///
/// Pure arithmetic over memory it does not own: the mapped ring and the tests'
/// fake rings both feed it. The length word is written by the kernel with release
/// ordering when the record is submitted, so it is read through `loadLength`
/// (acquire); the sample bytes before it are then visible.
public struct RingBufferReader: ~Copyable {
    static let headerBytes = 8
    static let busyBit: UInt32 = 1 << 31
    static let discardBit: UInt32 = 1 << 30

    private let data: UnsafeRawPointer
    private let size: Int
    private let mask: UInt64
    /// `size - headerBytes`: a record with its header at `offset` has its sample in one piece
    /// when `offset + length` is at most this.
    private let lastInPlaceEnd: Int
    /// Holds one wrapped sample at a time. A record the reader accepts fits before the
    /// producer, at most the ring size away, so its sample is shorter than the ring.
    private let scratch: UnsafeMutableRawPointer

    /// `data` is the data area, mapped once, valid for the reader's lifetime: a power of two
    /// of at least 8 bytes.
    public init(data: UnsafeRawBufferPointer) throws(RingGeometryError) {
        let size = data.count
        guard size >= Self.headerBytes, size & (size - 1) == 0, let base = data.baseAddress else {
            throw RingGeometryError(size: size)
        }
        self.data = base
        self.size = size
        self.mask = UInt64(size - 1)
        self.lastInPlaceEnd = size - Self.headerBytes
        // Untouched pages of it are never resident: only the first wrapped samples fault any in.
        self.scratch = .allocate(byteCount: size, alignment: 8)
    }

    deinit {
        scratch.deallocate()
    }

    public var ringSize: Int { size }

    /// Reads the complete records from `consumer` up to `producer`, calling `onSample` with
    /// each one's bytes (valid only during the call). Returns where the next pass starts (the
    /// caller publishes it as the consumer position) and what it found.
    public func read(consumer: UInt64, producer: UInt64, loadLength: (UnsafeRawPointer) -> UInt32,
                     onSample: (UnsafeRawBufferPointer) -> Void) -> (consumer: UInt64, pass: RingPass) {
        var pass = RingPass()
        guard producer &- consumer <= UInt64(size) else {
            pass.framingError = .countersOutOfRange(head: producer, tail: consumer, ringSize: size)
            return (producer, pass)
        }
        // Every position of the pass is the consumer's plus whole records: checked once, it keeps
        // each header in the area (the kernel's positions are always multiples of 8).
        guard consumer % UInt64(Self.headerBytes) == 0 else {
            pass.framingError = .ringBufferPositionMisaligned(at: consumer)
            return (producer, pass)
        }
        var position = consumer
        while position != producer {
            let available = producer &- position
            guard available >= UInt64(Self.headerBytes) else {
                pass.framingError = .truncatedHeader(available: available)
                return (producer, pass)
            }
            let offset = Int(position & mask)
            let word = loadLength(data + offset)
            if word & Self.busyBit != 0 { break }
            let length = word & ~(Self.busyBit | Self.discardBit)
            let recordBytes = (UInt64(length) + UInt64(Self.headerBytes) + 7) & ~7
            guard recordBytes <= available else {
                pass.framingError = .ringBufferRecordBeyondProducer(length: length, available: available, at: position)
                return (producer, pass)
            }
            if word & Self.discardBit != 0 {
                pass.otherRecords += 1
            } else if offset + Int(length) <= lastInPlaceEnd {
                onSample(UnsafeRawBufferPointer(start: data + offset + Self.headerBytes, count: Int(length)))
                pass.samples += 1
            } else {
                onSample(wrappedSample(headerOffset: offset, length: Int(length)))
                pass.samples += 1
            }
            position &+= recordBytes
        }
        return (position, pass)
    }

    /// The sample of a record that runs past the end of the area, in one piece: copied, unless
    /// the header fills the area's last 8 bytes and the whole sample is at the start.
    /// `length` is less than the ring size (checked against the bytes before the producer).
    private func wrappedSample(headerOffset: Int, length: Int) -> UnsafeRawBufferPointer {
        let beforeEnd = size - (headerOffset + Self.headerBytes)
        if beforeEnd == 0 {
            return UnsafeRawBufferPointer(start: data, count: length)
        }
        scratch.copyMemory(from: data + headerOffset + Self.headerBytes, byteCount: beforeEnd)
        (scratch + beforeEnd).copyMemory(from: data, byteCount: length - beforeEnd)
        return UnsafeRawBufferPointer(start: scratch, count: length)
    }
}
