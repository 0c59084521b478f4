/// The framing of records in a perf ring (`struct perf_event_header` and the
/// two record types a `PERF_COUNT_SW_BPF_OUTPUT` event with `PERF_SAMPLE_RAW`
/// produces). Pure values: no kernel access.
public enum PerfRecordType {
    /// `PERF_RECORD_LOST`: `u64 id, u64 lost` after the header.
    public static let lost: UInt32 = 2
    /// `PERF_RECORD_SAMPLE`: with `PERF_SAMPLE_RAW` only, `u32 size` then the raw bytes.
    public static let sample: UInt32 = 9
}

/// `struct perf_event_header`: `u32 type, u16 misc, u16 size`, where `size`
/// counts the whole record, header included.
public struct PerfEventHeader: Sendable, Equatable {
    public static let byteCount = 8

    public var type: UInt32
    public var misc: UInt16
    public var size: UInt16

    public init(type: UInt32, misc: UInt16, size: UInt16) {
        self.type = type
        self.misc = misc
        self.size = size
    }

    /// Decodes the header from its 8 bytes as one little-endian word
    /// (the kernel writes it in host order; this project targets little-endian hosts).
    init(word: UInt64) {
        type = UInt32(truncatingIfNeeded: word)
        misc = UInt16(truncatingIfNeeded: word >> 32)
        size = UInt16(truncatingIfNeeded: word >> 48)
    }
}

/// Fixed byte offsets inside the two record types we read.
enum PerfRecordLayout {
    /// Sample: header, then `u32` raw size, then the raw bytes.
    static let sampleRawSizeOffset = 8
    static let sampleRawDataOffset = 12
    /// Lost: header, `u64 id`, `u64 lost`.
    static let lostCountOffset = 16
    static let lostRecordMinimumSize = 24
}

/// Why a ring's contents could not be framed. The reader then skips to the
/// kernel's head (the next record boundary the kernel will write) and counts
/// the error; records in the skipped bytes are not delivered.
public enum RingFramingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `head - tail` is larger than the ring: the counters cannot both be right.
    case countersOutOfRange(head: UInt64, tail: UInt64, ringSize: Int)
    /// Fewer bytes than a header are left before the head.
    case truncatedHeader(available: UInt64)
    /// The header's `size` is smaller than the header itself (0 included).
    case recordSizeBelowHeader(size: UInt16, at: UInt64)
    /// The header's `size` reaches past the head.
    case recordSizeBeyondHead(size: UInt16, available: UInt64, at: UInt64)
    /// A sample's raw size does not fit in its record, or the record cannot hold the raw size field.
    case sampleSizeBeyondRecord(rawSize: UInt32, recordSize: UInt16, at: UInt64)
    /// A lost record too short to hold its count.
    case lostRecordTooShort(recordSize: UInt16, at: UInt64)
    /// A BPF ring buffer record whose length reaches past the producer position.
    case ringBufferRecordBeyondProducer(length: UInt32, available: UInt64, at: UInt64)
    /// A BPF ring buffer consumer position that is not a multiple of 8, where no record starts.
    case ringBufferPositionMisaligned(at: UInt64)

    public var description: String {
        switch self {
        case let .ringBufferRecordBeyondProducer(length, available, at):
            return "ring buffer record at \(at) has length \(length) but only \(available) bytes are before the producer"
        case let .ringBufferPositionMisaligned(at):
            return "ring buffer consumer position \(at) is not a multiple of 8"
        case let .countersOutOfRange(head, tail, ringSize):
            return "ring counters out of range: head \(head) - tail \(tail) exceeds the ring size \(ringSize)"
        case let .truncatedHeader(available):
            return "only \(available) bytes before the head, less than a record header"
        case let .recordSizeBelowHeader(size, at):
            return "record at \(at) has size \(size), smaller than its header"
        case let .recordSizeBeyondHead(size, available, at):
            return "record at \(at) has size \(size) but only \(available) bytes are before the head"
        case let .sampleSizeBeyondRecord(rawSize, recordSize, at):
            return "sample at \(at) claims \(rawSize) raw bytes in a record of \(recordSize) bytes"
        case let .lostRecordTooShort(recordSize, at):
            return "lost record at \(at) has size \(recordSize), too short for its count"
        }
    }
}
