/// A perf ring in plain memory with a producer modelled on the kernel's
/// `perf_output_begin`/`perf_output_end` (kernel/events/ring_buffer.c): records
/// are 8-byte aligned, a sample's raw size is padded so that `u32 size` + data
/// ends on 8 bytes, and a full ring drops the record and counts it; the count is
/// written as a `PERF_RECORD_LOST` in front of the next record that fits.
///
/// Written byte by byte with its own little-endian encoding, independent of
/// the reader under test.
final class FakePerfRing {
    let size: Int
    let bytes: UnsafeMutableRawBufferPointer
    var head: UInt64
    var tail: UInt64
    /// Records dropped because the ring was full, not yet reported.
    private(set) var pendingLost: UInt64 = 0
    private var lostRecordID: UInt64 = 0

    init(size: Int, startingAt counter: UInt64 = 0) {
        self.size = size
        self.bytes = .allocate(byteCount: size, alignment: 8)
        self.bytes.initializeMemory(as: UInt8.self, repeating: 0xEE)
        self.head = counter
        self.tail = counter
    }

    deinit {
        bytes.deallocate()
    }

    var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(bytes) }
    var freeBytes: Int { size - Int(head &- tail) }

    /// The raw size the kernel reports for a payload: padded so that the
    /// `u32` size field plus the data is a multiple of 8.
    static func paddedRawSize(_ payloadCount: Int) -> Int {
        (payloadCount + 4 + 7) / 8 * 8 - 4
    }

    static func sampleRecord(payload: [UInt8]) -> [UInt8] {
        let raw = paddedRawSize(payload.count)
        let size = 8 + 4 + raw
        var record = header(type: 9, misc: 0, size: size)
        record += littleEndian(UInt64(raw), count: 4)
        record += payload
        record += [UInt8](repeating: 0, count: raw - payload.count)
        return record
    }

    static func lostRecord(id: UInt64, count: UInt64) -> [UInt8] {
        header(type: 2, misc: 0, size: 24) + littleEndian(id, count: 8) + littleEndian(count, count: 8)
    }

    static func header(type: UInt32, misc: UInt16, size: Int) -> [UInt8] {
        littleEndian(UInt64(type), count: 4) + littleEndian(UInt64(misc), count: 2)
            + littleEndian(UInt64(size), count: 2)
    }

    static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// What `bpf_perf_event_output` does: true if the sample was written.
    @discardableResult
    func emitSample(_ payload: [UInt8]) -> Bool {
        let sample = Self.sampleRecord(payload: payload)
        var records = [sample]
        if pendingLost > 0 {
            records.insert(Self.lostRecord(id: lostRecordID, count: pendingLost), at: 0)
        }
        guard records.reduce(0, { $0 + $1.count }) <= freeBytes else {
            pendingLost += 1
            return false
        }
        if pendingLost > 0 {
            lostRecordID += 1
            pendingLost = 0
        }
        for record in records { writeBytes(record) }
        return true
    }

    /// Places bytes at the head, wrapping, with no framing or space check: for
    /// hand-made and malformed records.
    func writeBytes(_ record: [UInt8]) {
        for (index, byte) in record.enumerated() {
            let offset = Int((head &+ UInt64(index)) & UInt64(size - 1))
            bytes[offset] = byte
        }
        head &+= UInt64(record.count)
    }
}
