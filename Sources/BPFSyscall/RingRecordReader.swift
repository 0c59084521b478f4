/// What one pass over a ring found. A pass always consumes the ring up to the
/// head it was given (records, or bytes skipped after a framing error): the
/// caller then publishes that head as the new `data_tail`.
public struct RingPass: Sendable, Equatable {
    /// `PERF_RECORD_SAMPLE` records handed to the sample callback.
    public var samples: Int = 0
    /// Sum of the counts in `PERF_RECORD_LOST` records.
    public var lost: UInt64 = 0
    /// Records of other types (none are expected for a BPF output event): skipped.
    public var otherRecords: Int = 0
    /// Set when the pass stopped on bytes that cannot be framed and skipped the rest up to the head.
    public var framingError: RingFramingError?

    public init(samples: Int = 0, lost: UInt64 = 0, otherRecords: Int = 0, framingError: RingFramingError? = nil) {
        self.samples = samples
        self.lost = lost
        self.otherRecords = otherRecords
        self.framingError = framingError
    }
}

/// A ring size that is not a power of two, or smaller than a record header.
public struct RingGeometryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var size: Int
    public var description: String {
        "perf ring data area of \(size) bytes: must be a power of two of at least \(PerfEventHeader.byteCount) bytes"
    }
}

/// Frames the records of one perf ring: a data area of 2^n bytes addressed by
/// free-running `u64` head (written by the producer) and tail (written by us)
/// counters, where a record may wrap around the end of the area.
///
/// Pure arithmetic over a byte buffer it does not own: the mmap'd ring and the
/// tests' fake rings both feed it. The hot path allocates nothing: a sample is
/// handed to the callback in place, and only a record that wraps is first copied
/// into a scratch buffer allocated once here.
public struct RingRecordReader: ~Copyable {
    private let data: UnsafeRawPointer
    private let size: Int
    private let mask: UInt64
    /// Holds one wrapped record at a time; records are at most `UInt16.max` bytes.
    private let scratch: UnsafeMutableRawPointer

    /// `data` must stay valid for the reader's lifetime; its count must be a power of two ≥ 8.
    public init(data: UnsafeRawBufferPointer) throws(RingGeometryError) {
        let size = data.count
        guard size >= PerfEventHeader.byteCount, size & (size - 1) == 0, let base = data.baseAddress else {
            throw RingGeometryError(size: size)
        }
        self.data = base
        self.size = size
        self.mask = UInt64(size - 1)
        self.scratch = .allocate(byteCount: min(size, Int(UInt16.max)), alignment: 8)
    }

    deinit {
        scratch.deallocate()
    }

    public var ringSize: Int { size }

    /// Reads every record between `tail` and `head`, calling `onSample` with the
    /// raw bytes of each sample. The raw size the kernel reports includes padding
    /// (an 8-byte payload reports 12): the consumer trims to the event size it knows.
    /// The bytes are valid only during the call.
    ///
    /// On bytes that cannot be framed the pass stops and records the error; the
    /// caller still publishes `head` as the tail, so the next pass starts on a
    /// record boundary (the kernel writes whole records).
    public func read(head: UInt64, tail: UInt64, onSample: (UnsafeRawBufferPointer) -> Void) -> RingPass {
        var pass = RingPass()
        if head &- tail > UInt64(size) {
            pass.framingError = .countersOutOfRange(head: head, tail: tail, ringSize: size)
            return pass
        }
        var position = tail
        while position != head {
            let available = head &- position
            guard available >= UInt64(PerfEventHeader.byteCount) else {
                return stop(&pass, .truncatedHeader(available: available))
            }
            let header = PerfEventHeader(word: loadHeaderWord(at: position))
            guard header.size >= PerfEventHeader.byteCount else {
                return stop(&pass, .recordSizeBelowHeader(size: header.size, at: position))
            }
            guard UInt64(header.size) <= available else {
                return stop(&pass, .recordSizeBeyondHead(size: header.size, available: available, at: position))
            }
            let record = contiguousRecord(at: position, size: Int(header.size))
            switch header.type {
            case PerfRecordType.sample:
                guard header.size >= PerfRecordLayout.sampleRawDataOffset else {
                    return stop(&pass, .sampleSizeBeyondRecord(rawSize: 0, recordSize: header.size, at: position))
                }
                let rawSize = record.loadUnaligned(fromByteOffset: PerfRecordLayout.sampleRawSizeOffset,
                                                   as: UInt32.self)
                guard UInt64(rawSize) <= UInt64(header.size) - UInt64(PerfRecordLayout.sampleRawDataOffset) else {
                    return stop(&pass, .sampleSizeBeyondRecord(rawSize: rawSize, recordSize: header.size,
                                                               at: position))
                }
                onSample(UnsafeRawBufferPointer(start: record + PerfRecordLayout.sampleRawDataOffset,
                                                count: Int(rawSize)))
                pass.samples += 1
            case PerfRecordType.lost:
                guard header.size >= PerfRecordLayout.lostRecordMinimumSize else {
                    return stop(&pass, .lostRecordTooShort(recordSize: header.size, at: position))
                }
                pass.lost &+= record.loadUnaligned(fromByteOffset: PerfRecordLayout.lostCountOffset, as: UInt64.self)
            default:
                pass.otherRecords += 1
            }
            position &+= UInt64(header.size)
        }
        return pass
    }

    private func stop(_ pass: inout RingPass, _ error: RingFramingError) -> RingPass {
        pass.framingError = error
        return pass
    }

    /// The 8 header bytes at `position`; they wrap only if a producer wrote a size
    /// that is not a multiple of 8 (the kernel never does), but that must not crash.
    private func loadHeaderWord(at position: UInt64) -> UInt64 {
        let offset = Int(position & mask)
        if offset + PerfEventHeader.byteCount <= size {
            return data.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        }
        var word: UInt64 = 0
        for index in 0..<PerfEventHeader.byteCount {
            let byte = data.load(fromByteOffset: (offset + index) & Int(mask), as: UInt8.self)
            word |= UInt64(byte) << (8 * index)
        }
        return word
    }

    /// The record's bytes in one piece: in place, or copied into the scratch buffer when it wraps.
    /// `count` has been checked against the bytes before the head, so it is at most the ring size.
    private func contiguousRecord(at position: UInt64, size count: Int) -> UnsafeRawPointer {
        let offset = Int(position & mask)
        if offset + count <= size {
            return data + offset
        }
        copyOut(from: offset, count: count, into: scratch)
        return UnsafeRawPointer(scratch)
    }

    /// Copies `count` bytes starting at `offset`, continuing at the start of the area after its end.
    private func copyOut(from offset: Int, count: Int, into target: UnsafeMutableRawPointer) {
        let first = min(count, size - offset)
        target.copyMemory(from: data + offset, byteCount: first)
        if count > first {
            (target + first).copyMemory(from: data, byteCount: count - first)
        }
    }
}
