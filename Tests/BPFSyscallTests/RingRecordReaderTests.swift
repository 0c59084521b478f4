import KernelTestSupport
import Testing
@testable import BPFSyscall

/// The ring arithmetic on fake rings, no kernel: framing, wrap-around, lost
/// records, malformed bytes, and random streams against a plain list model.
@Suite struct RingRecordReaderTests {
    /// One pass as a consumer would run it: read to the head, publish the head as the tail.
    struct Drained {
        var samples: [[UInt8]] = []
        var pass = RingPass()
    }

    func drain(_ ring: FakePerfRing, _ reader: borrowing RingRecordReader) -> Drained {
        var drained = Drained()
        drained.pass = reader.read(head: ring.head, tail: ring.tail) { drained.samples.append(Array($0)) }
        ring.tail = ring.head
        return drained
    }

    func payload(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
    }

    @Test func rejectsSizesThatAreNotAPowerOfTwo() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 96, alignment: 8)
        defer { buffer.deallocate() }
        for count in [0, 4, 24, 96] {
            #expect(throws: RingGeometryError(size: count)) {
                _ = try RingRecordReader(data: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
    }

    @Test func rawSizeIncludesPaddingAndConsumerTrims() throws {
        let ring = FakePerfRing(size: 64)
        let reader = try RingRecordReader(data: ring.data)
        let event: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(ring.emitSample(event))
        #expect(ring.head == 24) // header 8 + u32 4 + raw 12
        let drained = drain(ring, reader)
        #expect(drained.samples.count == 1)
        #expect(drained.samples.first?.count == 12)
        #expect(drained.samples.first.map { Array($0.prefix(8)) } == event)
    }

    /// A record starting at every 8-byte position of the ring, with every payload
    /// size that fits, so every way a record can straddle the end is read; the
    /// counters also run across 2^64.
    @Test(arguments: [64, 256])
    func recordsWrapAtEveryPosition(ringSize: Int) throws {
        for base in [UInt64(0), 0 &- UInt64(ringSize * 2)] {
            for start in stride(from: 0, to: ringSize, by: 8) {
                for payloadCount in 0...(ringSize - 12) {
                    let ring = FakePerfRing(size: ringSize, startingAt: base &+ UInt64(start))
                    let reader = try RingRecordReader(data: ring.data)
                    let event = payload(payloadCount, seed: start)
                    #expect(ring.emitSample(event))
                    let drained = drain(ring, reader)
                    #expect(drained.pass == RingPass(samples: 1))
                    #expect(drained.samples.first?.count == FakePerfRing.paddedRawSize(payloadCount))
                    #expect(drained.samples.first.map { Array($0.prefix(payloadCount)) } == event,
                            "start \(start) payload \(payloadCount)")
                }
            }
        }
    }

    /// Several wrapped records in a row, reused scratch included: each one is read back intact.
    @Test func consecutiveWrappedRecordsDoNotShareBytes() throws {
        let ring = FakePerfRing(size: 512, startingAt: 40)
        let reader = try RingRecordReader(data: ring.data)
        var expected: [[UInt8]] = []
        for round in 0..<200 {
            let event = payload(20 + round % 90, seed: round)
            #expect(ring.emitSample(event))
            expected.append(event)
            if round % 3 == 2 {
                let drained = drain(ring, reader)
                let got = zip(drained.samples, expected).map { Array($0.prefix($1.count)) }
                #expect(got == expected)
                expected.removeAll()
            }
        }
    }

    @Test func aFullRingReadsToTheEnd() throws {
        let ring = FakePerfRing(size: 256, startingAt: 16)
        let reader = try RingRecordReader(data: ring.data)
        var written = 0
        while ring.emitSample(payload(4, seed: written)) { written += 1 }
        #expect(ring.freeBytes == 0) // 16-byte records fill 256 bytes exactly
        let drained = drain(ring, reader)
        #expect(drained.samples.count == written)
        #expect(drained.pass.lost == 0)
    }

    @Test func lostRecordsAreSummedAndSamplesAroundThemDelivered() throws {
        let ring = FakePerfRing(size: 128)
        let reader = try RingRecordReader(data: ring.data)
        ring.writeBytes(FakePerfRing.sampleRecord(payload: [1]))
        ring.writeBytes(FakePerfRing.lostRecord(id: 1, count: 5))
        ring.writeBytes(FakePerfRing.sampleRecord(payload: [2]))
        ring.writeBytes(FakePerfRing.lostRecord(id: 2, count: 1 << 40))
        let drained = drain(ring, reader)
        #expect(drained.pass == RingPass(samples: 2, lost: 5 + (1 << 40)))
        #expect(drained.samples.map { $0.first } == [1, 2])
    }

    @Test func unknownRecordTypesAreSkipped() throws {
        let ring = FakePerfRing(size: 64)
        let reader = try RingRecordReader(data: ring.data)
        ring.writeBytes(FakePerfRing.header(type: 14, misc: 0, size: 16) + [UInt8](repeating: 9, count: 8))
        ring.writeBytes(FakePerfRing.sampleRecord(payload: [42]))
        let drained = drain(ring, reader)
        #expect(drained.pass == RingPass(samples: 1, otherRecords: 1))
        #expect(drained.samples.first?.first == 42)
    }

    /// Sizes that are not multiples of 8 put a header across the end of the
    /// ring; the kernel never does this, but the reader must still frame it.
    @Test func headersThatWrapAreRead() throws {
        for start in 0..<64 {
            let ring = FakePerfRing(size: 64, startingAt: UInt64(start))
            let reader = try RingRecordReader(data: ring.data)
            // A sample whose record is 13 bytes: raw size 1.
            let odd = FakePerfRing.header(type: 9, misc: 0, size: 13) + FakePerfRing.littleEndian(1, count: 4) + [7]
            ring.writeBytes(odd)
            ring.writeBytes(odd)
            let drained = drain(ring, reader)
            #expect(drained.pass == RingPass(samples: 2), "start \(start)")
            #expect(drained.samples == [[7], [7]])
        }
    }

    // MARK: malformed bytes: stop, count, resynchronise at the head

    func malformed(_ bytes: [UInt8], expect error: RingFramingError, samplesBefore: Int = 1) throws {
        let ring = FakePerfRing(size: 128)
        let reader = try RingRecordReader(data: ring.data)
        ring.writeBytes(FakePerfRing.sampleRecord(payload: [1]))
        ring.writeBytes(bytes)
        let drained = drain(ring, reader)
        #expect(drained.pass.framingError == error)
        #expect(drained.pass.samples == samplesBefore)
        // The next record after the resynchronisation is read normally.
        ring.writeBytes(FakePerfRing.sampleRecord(payload: [2]))
        let after = drain(ring, reader)
        #expect(after.pass == RingPass(samples: 1))
        #expect(after.samples.first?.first == 2)
    }

    @Test func sizeZeroStops() throws {
        try malformed(FakePerfRing.header(type: 9, misc: 0, size: 0) + [0, 0, 0, 0, 0, 0, 0, 0],
                      expect: .recordSizeBelowHeader(size: 0, at: 16))
    }

    @Test func sizeBelowHeaderStops() throws {
        try malformed(FakePerfRing.header(type: 2, misc: 0, size: 7) + [0, 0, 0, 0, 0, 0, 0, 0],
                      expect: .recordSizeBelowHeader(size: 7, at: 16))
    }

    @Test func sizeBeyondHeadStops() throws {
        try malformed(FakePerfRing.header(type: 9, misc: 0, size: 64) + FakePerfRing.littleEndian(4, count: 4),
                      expect: .recordSizeBeyondHead(size: 64, available: 12, at: 16))
    }

    @Test func truncatedHeaderStops() throws {
        try malformed([9, 0, 0, 0], expect: .truncatedHeader(available: 4))
    }

    @Test func sampleRawSizeBeyondRecordStops() throws {
        try malformed(FakePerfRing.header(type: 9, misc: 0, size: 16) + FakePerfRing.littleEndian(5, count: 4)
                      + [0, 0, 0, 0],
                      expect: .sampleSizeBeyondRecord(rawSize: 5, recordSize: 16, at: 16))
        try malformed(FakePerfRing.header(type: 9, misc: 0, size: 16) + FakePerfRing.littleEndian(0xFFFF_FFFF, count: 4)
                      + [0, 0, 0, 0],
                      expect: .sampleSizeBeyondRecord(rawSize: 0xFFFF_FFFF, recordSize: 16, at: 16))
        try malformed(FakePerfRing.header(type: 9, misc: 0, size: 8),
                      expect: .sampleSizeBeyondRecord(rawSize: 0, recordSize: 8, at: 16))
    }

    @Test func shortLostRecordStops() throws {
        try malformed(FakePerfRing.header(type: 2, misc: 0, size: 16) + FakePerfRing.littleEndian(3, count: 8),
                      expect: .lostRecordTooShort(recordSize: 16, at: 16))
    }

    @Test func countersFurtherApartThanTheRingStop() throws {
        let ring = FakePerfRing(size: 64)
        let reader = try RingRecordReader(data: ring.data)
        var delivered = 0
        for (head, tail) in [(UInt64(72), UInt64(0)), (0, 8), (UInt64.max, 0)] {
            let pass = reader.read(head: head, tail: tail) { _ in delivered += 1 }
            #expect(pass.framingError == .countersOutOfRange(head: head, tail: tail, ringSize: 64))
        }
        #expect(delivered == 0)
    }

    // MARK: random streams against a model

    /// A random producer (samples of random sizes, including ones that never fit),
    /// and a consumer reading at random moments: every sample that was written is
    /// delivered once, in order, intact, and every drop is reported as lost.
    @Test(arguments: 0..<40)
    func randomStreamsMatchTheModel(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let ringSize = 1 << Int.random(in: 6...12, using: &random)
        let start = Bool.random(using: &random) ? UInt64.random(in: 0...UInt64.max, using: &random) & ~7 : 0
        let ring = FakePerfRing(size: ringSize, startingAt: start)
        let reader = try RingRecordReader(data: ring.data)

        var written: [[UInt8]] = []
        var dropped: UInt64 = 0
        var received: [[UInt8]] = []
        var reportedLost: UInt64 = 0
        func consume() {
            let drained = drain(ring, reader)
            #expect(drained.pass.framingError == nil)
            #expect(drained.pass.samples == drained.samples.count)
            received += drained.samples
            reportedLost += drained.pass.lost
        }
        for step in 0..<3000 {
            if Int.random(in: 0..<4, using: &random) == 0 {
                consume()
            } else {
                let count = Int.random(in: 0...min(300, ringSize), using: &random)
                let event = payload(count, seed: step)
                if ring.emitSample(event) { written.append(event) } else { dropped += 1 }
            }
        }
        // The kernel reports drops in front of the next record that fits: empty
        // the ring and write one more so that every drop is on record.
        consume()
        #expect(ring.emitSample(payload(1, seed: -1)))
        written.append(payload(1, seed: -1))
        consume()

        #expect(ring.pendingLost == 0)
        #expect(reportedLost == dropped)
        #expect(received.count == written.count)
        #expect(received.map(\.count) == written.map { FakePerfRing.paddedRawSize($0.count) })
        #expect(zip(received, written).allSatisfy { Array($0.prefix($1.count)) == $1 })
    }

    /// Random bytes and random counters: the reader always finishes, delivers
    /// only bytes inside the ring, and either frames everything or reports why not.
    @Test func randomBytesNeverTrapOrLoop() throws {
        var random = SeededRandom(seed: 0xF00D)
        for _ in 0..<20_000 {
            let ringSize = 1 << Int.random(in: 3...9, using: &random)
            let ring = FakePerfRing(size: ringSize)
            for index in 0..<ringSize {
                // Mostly small values, so sizes and types are often plausible.
                ring.bytes[index] = Bool.random(using: &random) ? UInt8.random(in: 0...40, using: &random)
                                                               : UInt8.random(in: 0...255, using: &random)
            }
            let tail = UInt64.random(in: 0...UInt64.max, using: &random)
            let head = tail &+ UInt64.random(in: 0...UInt64(ringSize + 16), using: &random)
            let reader = try RingRecordReader(data: ring.data)
            var deliveredBytes = 0
            let pass = reader.read(head: head, tail: tail) { deliveredBytes += $0.count }
            #expect(deliveredBytes <= ringSize)
            #expect(pass.samples * 12 <= ringSize)
            if head &- tail > UInt64(ringSize) {
                #expect(pass.framingError != nil)
            }
        }
    }
}
