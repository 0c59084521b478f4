/// Frames the records of a BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`), the one ring
/// every CPU writes into: a data area of 2^n bytes that the kernel maps twice in
/// a row, so that a record running past the end is still contiguous; free-running
/// `u64` producer (the kernel's) and consumer (ours) positions; before each record
/// an 8-byte header, a `u32` length carrying two flags and a `u32` page offset
/// (kernel-internal); records padded to 8 bytes.
///
/// - Busy bit (31): reserved but not yet submitted. Records are consumed in
///   order, so the pass stops there; the next pass continues from it.
/// - Discard bit (30): submitted empty (`bpf_ringbuf_discard`): skipped.
///
/// Pure arithmetic over memory it does not own: the mapped ring and the tests'
/// fake rings both feed it. The length word is written by the kernel with release
/// ordering when the record is submitted, so it is read through `loadLength`
/// (acquire); the sample bytes before it are then visible.
public struct RingBufferReader {
    static let headerBytes = 8
    static let busyBit: UInt32 = 1 << 31
    static let discardBit: UInt32 = 1 << 30

    private let data: UnsafeRawPointer
    private let size: Int
    private let mask: UInt64

    /// `data` is the double mapping: 2 × a power of two of at least 8 bytes.
    public init(doubleMappedData data: UnsafeRawBufferPointer) throws(RingGeometryError) {
        let size = data.count / 2
        guard size >= Self.headerBytes, size & (size - 1) == 0, data.count == 2 * size, let base = data.baseAddress else {
            throw RingGeometryError(size: data.count / 2)
        }
        self.data = base
        self.size = size
        self.mask = UInt64(size - 1)
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
        var position = consumer
        while position != producer {
            let available = producer &- position
            guard available >= UInt64(Self.headerBytes) else {
                pass.framingError = .truncatedHeader(available: available)
                return (producer, pass)
            }
            let header = data + Int(position & mask)
            let word = loadLength(header)
            if word & Self.busyBit != 0 { break }
            let length = word & ~(Self.busyBit | Self.discardBit)
            let recordBytes = (UInt64(length) + UInt64(Self.headerBytes) + 7) & ~7
            guard recordBytes <= available else {
                pass.framingError = .ringBufferRecordBeyondProducer(length: length, available: available, at: position)
                return (producer, pass)
            }
            if word & Self.discardBit != 0 {
                pass.otherRecords += 1
            } else {
                onSample(UnsafeRawBufferPointer(start: header + Self.headerBytes, count: Int(length)))
                pass.samples += 1
            }
            position &+= recordBytes
        }
        return (position, pass)
    }
}
