import KernelTestSupport
import Testing
@testable import BPFSyscall

/// A BPF ring buffer as the kernel lays it out, in plain memory: the data area twice in a
/// row (every write lands in both copies, as the kernel's double mapping shows it), a
/// producer position, and records framed as `kernel/bpf/ringbuf.c` frames them: an 8-byte
/// header (u32 length with the busy and discard bits, u32 page offset), 8-byte padding.
final class FakeRingBuffer {
    let size: Int
    let bytes: UnsafeMutableRawBufferPointer
    var producer: UInt64
    var consumer: UInt64

    init(size: Int, startingAt start: UInt64 = 0) {
        self.size = size
        bytes = .allocate(byteCount: 2 * size, alignment: 8)
        bytes.initializeMemory(as: UInt8.self, repeating: 0xEE)
        producer = start
        consumer = start
    }

    deinit { bytes.deallocate() }

    var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(bytes) }

    static func recordBytes(_ length: Int) -> Int { (length + 8 + 7) & ~7 }

    private func write(_ value: [UInt8], at position: UInt64) {
        for (index, byte) in value.enumerated() {
            let offset = Int((position &+ UInt64(index)) & UInt64(size - 1))
            bytes[offset] = byte
            bytes[offset + size] = byte
        }
    }

    private func writeLength(_ word: UInt32, at position: UInt64) {
        write((0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * UInt32($0))) }, at: position)
    }

    /// Reserves a record (busy) as `bpf_ringbuf_reserve` does; nil when it does not fit.
    func reserve(_ length: Int) -> UInt64? {
        let total = Self.recordBytes(length)
        guard Int(producer &- consumer) + total <= size else { return nil }
        let position = producer
        writeLength(UInt32(length) | RingBufferReader.busyBit, at: position)
        write([0, 0, 0, 0], at: position &+ 4)
        producer &+= UInt64(total)
        return position
    }

    func submit(_ position: UInt64, payload: [UInt8]) {
        write(payload, at: position &+ 8)
        writeLength(UInt32(payload.count), at: position)
    }

    func discard(_ position: UInt64, length: Int) {
        writeLength(UInt32(length) | RingBufferReader.discardBit, at: position)
    }

    /// One complete record.
    @discardableResult
    func emit(_ payload: [UInt8]) -> Bool {
        guard let position = reserve(payload.count) else { return false }
        submit(position, payload: payload)
        return true
    }

    /// One pass as `BPFRingBuffer.read` runs it: read, then publish the new consumer position.
    func drain(_ reader: RingBufferReader) -> (samples: [[UInt8]], pass: RingPass) {
        var samples: [[UInt8]] = []
        let (next, pass) = reader.read(consumer: consumer, producer: producer,
                                       loadLength: { $0.loadUnaligned(as: UInt32.self) }) { samples.append(Array($0)) }
        consumer = next
        return (samples, pass)
    }
}

/// The ring buffer arithmetic on fake rings, no kernel: framing, wrap-around through the
/// double mapping, busy and discarded records, malformed lengths, and random streams
/// against a plain list model, with positions running across 2^64.
@Suite struct RingBufferReaderTests {
    func payload(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ seed &* 5 &+ 3) }
    }

    @Test func rejectsSizesThatAreNotAPowerOfTwo() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 192, alignment: 8)
        defer { buffer.deallocate() }
        for count in [0, 8, 48, 192, 130] {
            #expect(throws: RingGeometryError.self) {
                _ = try RingBufferReader(doubleMappedData: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        #expect(throws: Never.self) {
            _ = try RingBufferReader(doubleMappedData: UnsafeRawBufferPointer(rebasing: buffer[0..<128]))
        }
    }

    /// A record starting at every 8-byte position with every length that fits: thanks to the
    /// double mapping each arrives in one piece, whatever it straddles.
    @Test(arguments: [64, 256])
    func recordsWrapAtEveryPosition(ringSize: Int) throws {
        for base in [UInt64(0), 0 &- UInt64(ringSize * 2)] {
            for start in stride(from: 0, to: ringSize, by: 8) {
                for length in 0...(ringSize - 8) {
                    let ring = FakeRingBuffer(size: ringSize, startingAt: base &+ UInt64(start))
                    let reader = try RingBufferReader(doubleMappedData: ring.data)
                    let event = payload(length, seed: start)
                    #expect(ring.emit(event))
                    let drained = ring.drain(reader)
                    #expect(drained.pass == RingPass(samples: 1))
                    #expect(drained.samples == [event])
                    #expect(ring.consumer == ring.producer)
                }
            }
        }
    }

    /// Records are consumed in order: a record still reserved stops the pass there (later,
    /// already submitted records wait for it), and the next pass takes them all.
    @Test func aBusyRecordStopsThePassUntilItIsSubmitted() throws {
        let ring = FakeRingBuffer(size: 256)
        let reader = try RingBufferReader(doubleMappedData: ring.data)
        ring.emit(payload(10, seed: 1))
        let busy = try #require(ring.reserve(20))
        ring.emit(payload(30, seed: 3))
        let first = ring.drain(reader)
        #expect(first.samples == [payload(10, seed: 1)])
        #expect(ring.consumer == busy)
        #expect(ring.drain(reader).samples.isEmpty)
        ring.submit(busy, payload: payload(20, seed: 2))
        let second = ring.drain(reader)
        #expect(second.samples == [payload(20, seed: 2), payload(30, seed: 3)])
        #expect(ring.consumer == ring.producer)
    }

    @Test func discardedRecordsAreSkipped() throws {
        let ring = FakeRingBuffer(size: 256)
        let reader = try RingBufferReader(doubleMappedData: ring.data)
        let skipped = try #require(ring.reserve(16))
        ring.discard(skipped, length: 16)
        ring.emit(payload(8, seed: 9))
        let drained = ring.drain(reader)
        #expect(drained.samples == [payload(8, seed: 9)])
        #expect(drained.pass == RingPass(samples: 1, otherRecords: 1))
    }

    /// Bytes no kernel writes: an error, never a read outside the ring, and the next pass starts
    /// at the producer.
    @Test func malformedLengthsAndPositionsAreErrors() throws {
        let ring = FakeRingBuffer(size: 64)
        let reader = try RingBufferReader(doubleMappedData: ring.data)
        ring.emit(payload(8, seed: 1))
        ring.bytes.storeBytes(of: UInt32(200).littleEndian, toByteOffset: 0, as: UInt32.self)
        let beyond = ring.drain(reader)
        #expect(beyond.pass.framingError == .ringBufferRecordBeyondProducer(length: 200, available: 16, at: 0))
        #expect(beyond.samples.isEmpty && ring.consumer == ring.producer)

        let (next, pass) = reader.read(consumer: 0, producer: 65, loadLength: { _ in 0 }) { _ in }
        #expect(pass.framingError == .countersOutOfRange(head: 65, tail: 0, ringSize: 64))
        #expect(next == 65)
        let (_, short) = reader.read(consumer: 0, producer: 4, loadLength: { _ in 0 }) { _ in }
        #expect(short.framingError == .truncatedHeader(available: 4))
    }

    /// Random bursts of records, some discarded, drained at random moments, against a list.
    @Test(arguments: [UInt64(0), 0 &- 4096])
    func randomStreamsMatchAModel(start: UInt64) throws {
        var random = SeededRandom(seed: start &+ 11)
        let ring = FakeRingBuffer(size: 1024, startingAt: start)
        let reader = try RingBufferReader(doubleMappedData: ring.data)
        var expected: [[UInt8]] = []
        var received: [[UInt8]] = []
        var full = 0
        for round in 0..<4000 {
            let length = Int(random.next() % 100)
            if random.next() % 7 == 0, let position = ring.reserve(length) {
                ring.discard(position, length: length)
            } else if ring.emit(payload(length, seed: round)) {
                expected.append(payload(length, seed: round))
            } else {
                full += 1
            }
            if random.next() % 5 == 0 { received += ring.drain(reader).samples }
        }
        received += ring.drain(reader).samples
        #expect(received == expected)
        #expect(full > 0, "the stream never filled the ring: the full path was not exercised")
    }
}
