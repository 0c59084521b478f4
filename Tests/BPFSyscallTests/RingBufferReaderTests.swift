import KernelTestSupport
import Testing
@testable import BPFSyscall

/// A BPF ring buffer as the reader sees it, in plain memory: the data area, mapped once, a
/// producer position, and records framed as `kernel/bpf/ringbuf.c` frames them: an 8-byte
/// header (u32 length with the busy and discard bits, u32 page offset), 8-byte padding.
/// Past the end of the area lie as many bytes of poison, a value no test payload contains:
/// a reader that ran straight on instead of wrapping would hand those over.
final class FakeRingBuffer {
    static let poison: UInt8 = 0xEE

    let size: Int
    /// The data area, then the poison.
    let bytes: UnsafeMutableRawBufferPointer
    var producer: UInt64
    var consumer: UInt64

    init(size: Int, startingAt start: UInt64 = 0) {
        self.size = size
        bytes = .allocate(byteCount: 2 * size, alignment: 8)
        bytes.initializeMemory(as: UInt8.self, repeating: Self.poison)
        producer = start
        consumer = start
    }

    deinit { bytes.deallocate() }

    var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[0..<size]) }

    static func recordBytes(_ length: Int) -> Int { (length + 8 + 7) & ~7 }

    private func write(_ value: [UInt8], at position: UInt64) {
        for (index, byte) in value.enumerated() {
            bytes[Int((position &+ UInt64(index)) & UInt64(size - 1))] = byte
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
    /// `inPlace` says, for each sample, whether it was handed over inside the area (not copied).
    func drain(_ reader: borrowing RingBufferReader) -> (samples: [[UInt8]], pass: RingPass, inPlace: [Bool]) {
        var samples: [[UInt8]] = []
        var inPlace: [Bool] = []
        let area = data
        let (next, pass) = reader.read(consumer: consumer, producer: producer,
                                       loadLength: { $0.loadUnaligned(as: UInt32.self) }) { sample in
            samples.append(Array(sample))
            inPlace.append(Self.lies(sample, in: area))
        }
        consumer = next
        return (samples, pass, inPlace)
    }

    private static func lies(_ sample: UnsafeRawBufferPointer, in area: UnsafeRawBufferPointer) -> Bool {
        guard let start = sample.baseAddress, let base = area.baseAddress else { return sample.isEmpty }
        return start >= base && start + sample.count <= base + area.count
    }
}

/// The ring buffer arithmetic on fake rings, no kernel: framing, samples that wrap around the
/// end of the area (joined in the reader's scratch buffer), busy and discarded records,
/// malformed lengths, and random streams against a plain list model, with positions running
/// across 2^64.
@Suite struct RingBufferReaderTests {
    /// Never the poison, so that a byte read past the end of the area shows.
    func payload(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ seed &* 5 &+ 3) & 0x7F }
    }

    /// Whether a record whose header is at `offset` has a sample that runs past the end of the
    /// area, so that the reader must copy it. A sample that starts at the start of the area (its
    /// header in the last 8 bytes) is in one piece.
    func wraps(headerOffset offset: Int, length: Int, ringSize: Int) -> Bool {
        offset + 8 < ringSize && offset + 8 + length > ringSize
    }

    @Test func rejectsSizesThatAreNotAPowerOfTwoOfAtLeastAHeader() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 192, alignment: 8)
        defer { buffer.deallocate() }
        for count in [0, 4, 48, 96, 130, 192] {
            #expect(throws: RingGeometryError.self) {
                _ = try RingBufferReader(data: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        for count in [8, 64, 128] {
            #expect(throws: Never.self) {
                _ = try RingBufferReader(data: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
    }

    /// A record starting at every 8-byte position with every length that fits: each arrives in
    /// one piece with its own bytes, in place unless its sample runs past the end. The bases put
    /// the end of the area at 2^64 (so that the position wraps with the ring) or just below it.
    @Test(arguments: [64, 256])
    func recordsWrapAtEveryPosition(ringSize: Int) throws {
        for base in [UInt64(0), 0 &- UInt64(ringSize), 0 &- UInt64(ringSize * 2)] {
            for start in stride(from: 0, to: ringSize, by: 8) {
                for length in 0...(ringSize - 8) {
                    let ring = FakeRingBuffer(size: ringSize, startingAt: base &+ UInt64(start))
                    let reader = try RingBufferReader(data: ring.data)
                    let event = payload(length, seed: start)
                    #expect(ring.emit(event))
                    let drained = ring.drain(reader)
                    #expect(drained.pass == RingPass(samples: 1))
                    #expect(drained.samples == [event])
                    #expect(drained.inPlace == [!wraps(headerOffset: start, length: length, ringSize: ringSize)])
                    #expect(ring.consumer == ring.producer)
                }
            }
        }
    }

    /// Headers are 8-byte aligned, so a sample is split across the end after a multiple of 8
    /// bytes: every such split of every length, the first piece empty included (the header in
    /// the last 8 bytes, the sample whole at the start: in place), once with the end of the area
    /// at position 2^64. The record after it starts where the padding ends.
    @Test func aSampleSplitAtEveryOffsetAcrossTheEnd() throws {
        let ringSize = 128
        for length in 1...(ringSize - 8 - 16) {
            for beforeEnd in stride(from: 0, to: length, by: 8) {
                let headerOffset = ringSize - 8 - beforeEnd
                for base in [UInt64(3 * ringSize), 0 &- UInt64(ringSize)] {
                    let ring = FakeRingBuffer(size: ringSize, startingAt: base &+ UInt64(headerOffset))
                    let reader = try RingBufferReader(data: ring.data)
                    let split = payload(length, seed: beforeEnd)
                    let next = payload(8, seed: length)
                    #expect(ring.emit(split) && ring.emit(next))
                    let drained = ring.drain(reader)
                    #expect(drained.samples == [split, next], "length \(length), \(beforeEnd) bytes before the end")
                    #expect(drained.inPlace == [beforeEnd == 0, true])
                    #expect(drained.pass == RingPass(samples: 2))
                    #expect(ring.consumer == ring.producer)
                }
            }
        }
    }

    /// A sample that ends exactly at the end of the area, padded or not, is read in place; the
    /// next record starts at the start of the area.
    @Test func aSampleEndingExactlyAtTheEndIsReadInPlace() throws {
        for length in [16, 13] {
            let ring = FakeRingBuffer(size: 64, startingAt: 40)
            let reader = try RingBufferReader(data: ring.data)
            ring.emit(payload(length, seed: 1))
            ring.emit(payload(24, seed: 2))
            let drained = ring.drain(reader)
            #expect(drained.samples == [payload(length, seed: 1), payload(24, seed: 2)])
            #expect(drained.inPlace == [true, true])
            #expect(ring.consumer == 40 + 24 + 32)
        }
    }

    /// Records are consumed in order: a record still reserved stops the pass there (later,
    /// already submitted records wait for it), and the next pass takes them all.
    @Test func aBusyRecordStopsThePassUntilItIsSubmitted() throws {
        let ring = FakeRingBuffer(size: 256)
        let reader = try RingBufferReader(data: ring.data)
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

    /// The same with the busy record at the wrap point: its sample split across the end (header
    /// at 40), or whole at the start (header in the last 8 bytes).
    @Test(arguments: [40, 56])
    func aBusyRecordAtTheWrapPointStopsThePass(headerOffset: Int) throws {
        let ring = FakeRingBuffer(size: 64, startingAt: 0 &- 64 &+ UInt64(headerOffset))
        let reader = try RingBufferReader(data: ring.data)
        let busy = try #require(ring.reserve(20))
        ring.emit(payload(6, seed: 2))
        let first = ring.drain(reader)
        #expect(first.samples.isEmpty && first.pass == RingPass())
        #expect(ring.consumer == busy)
        ring.submit(busy, payload: payload(20, seed: 1))
        let second = ring.drain(reader)
        #expect(second.samples == [payload(20, seed: 1), payload(6, seed: 2)])
        #expect(second.inPlace == [headerOffset == 56, true])
        #expect(ring.consumer == ring.producer)
    }

    @Test func discardedRecordsAreSkipped() throws {
        let ring = FakeRingBuffer(size: 256)
        let reader = try RingBufferReader(data: ring.data)
        let skipped = try #require(ring.reserve(16))
        ring.discard(skipped, length: 16)
        ring.emit(payload(8, seed: 9))
        let drained = ring.drain(reader)
        #expect(drained.samples == [payload(8, seed: 9)])
        #expect(drained.pass == RingPass(samples: 1, otherRecords: 1))
    }

    /// A discarded record whose sample would wrap is skipped like any other: never copied, never
    /// handed over, and the record after it is framed from its padded length.
    @Test func aDiscardedRecordThatWrapsIsSkipped() throws {
        let ring = FakeRingBuffer(size: 64, startingAt: 32)
        let reader = try RingBufferReader(data: ring.data)
        let skipped = try #require(ring.reserve(37))
        ring.discard(skipped, length: 37)
        ring.emit(payload(8, seed: 9))
        let drained = ring.drain(reader)
        #expect(drained.samples == [payload(8, seed: 9)])
        #expect(drained.pass == RingPass(samples: 1, otherRecords: 1))
        #expect(ring.consumer == ring.producer)
    }

    /// The smallest areas the reader takes: 8 bytes (one empty record at a time), 16 (no sample
    /// can be split: a header in the last 8 bytes has its sample whole at the start) and 32 (the
    /// first where one is split), through many wraps and across 2^64.
    @Test(arguments: [8, 16, 32])
    func theSmallestRingsFrameEveryRecord(ringSize: Int) throws {
        let ring = FakeRingBuffer(size: ringSize, startingAt: 0 &- UInt64(10 * ringSize))
        let reader = try RingBufferReader(data: ring.data)
        var copied = 0
        for round in 0..<400 {
            let length = round % (ringSize - 7)
            let event = payload(length, seed: round)
            let offset = Int(ring.producer & UInt64(ringSize - 1))
            #expect(ring.emit(event))
            let drained = ring.drain(reader)
            #expect(drained.samples == [event], "round \(round), length \(length), header at \(offset)")
            #expect(drained.inPlace == [!wraps(headerOffset: offset, length: length, ringSize: ringSize)])
            copied += drained.inPlace.filter { !$0 }.count
        }
        #expect(ring.consumer == ring.producer)
        #expect((copied > 0) == (ringSize >= 32), "\(copied) samples copied")
    }

    /// Bytes no kernel writes: an error, never a read outside the ring, and the next pass starts
    /// at the producer.
    @Test func malformedLengthsAndPositionsAreErrors() throws {
        let ring = FakeRingBuffer(size: 64)
        let reader = try RingBufferReader(data: ring.data)
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
        // A header 4 bytes before the end would have its length word half outside the area.
        var loads = 0
        let (skipped, misaligned) = reader.read(consumer: 60, producer: 76, loadLength: { _ in loads += 1; return 0 }) { _ in }
        #expect(misaligned.framingError == .ringBufferPositionMisaligned(at: 60))
        #expect(skipped == 76 && loads == 0)
    }

    /// Random bursts of records, some discarded, drained at random moments, against a list.
    @Test(arguments: [UInt64(0), 0 &- 4096])
    func randomStreamsMatchAModel(start: UInt64) throws {
        var random = SeededRandom(seed: start &+ 11)
        let ring = FakeRingBuffer(size: 1024, startingAt: start)
        let reader = try RingBufferReader(data: ring.data)
        var expected: [[UInt8]] = []
        var received: [[UInt8]] = []
        var copied = 0
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
            if random.next() % 5 == 0 {
                let drained = ring.drain(reader)
                received += drained.samples
                copied += drained.inPlace.filter { !$0 }.count
            }
        }
        received += ring.drain(reader).samples
        #expect(received == expected)
        #expect(full > 0, "the stream never filled the ring: the full path was not exercised")
        #expect(copied > 0, "no sample wrapped: the copy was not exercised")
    }
}
