import BPFSyscall
import CRingTestSupport
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    /// The real BPF ring buffer, its data area mapped once, with samples that wrap:
    /// Fixtures/ringbuf_producer.c writes records of changing lengths (8 to 263 bytes) into a
    /// ring of one or four pages, so that hundreds of samples are split across the end of the
    /// data area. Each must arrive whole, in order, with the bytes the program wrote.
    @Suite struct RingBufferWrapTests {
        /// Slots of `control` (see ringbuf_producer.c).
        static let emittedSlot: UInt32 = 1
        static let failedSlot: UInt32 = 2

        /// Checks every sample against the program's formula, and follows the records' positions
        /// (a failed output takes no space) to count the samples split across the end.
        struct CheckingSink: PerfEventSink, Sendable {
            let ringSize: Int
            var received = 0
            var split = 0
            var mismatches = 0
            var firstMismatches: [String] = []
            var position = 0
            var nextSequence: UInt64 = 0

            static func expectedLength(_ sequence: UInt64) -> Int { 8 + Int((sequence &* 13) & 0xff) }

            static func expectedByte(_ sequence: UInt64, at index: Int) -> UInt8 {
                let word = sequence ^ (UInt64(index / 8) &* 0x0101_0101_0101_0101)
                return UInt8(truncatingIfNeeded: word >> (8 * UInt64(index % 8)))
            }

            mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {
                received += 1
                let offset = position % ringSize
                if offset + 8 < ringSize && offset + 8 + sample.count > ringSize { split += 1 }
                position += (sample.count + 8 + 7) & ~7
                guard sample.count >= 8 else { return mismatch("record \(received): \(sample.count) bytes") }
                let sequence = sample.loadUnaligned(as: UInt64.self)
                guard sequence >= nextSequence else {
                    return mismatch("record \(received): sequence \(sequence) after \(nextSequence - 1)")
                }
                nextSequence = sequence + 1
                guard sample.count == Self.expectedLength(sequence) else {
                    return mismatch("sequence \(sequence): \(sample.count) bytes, not \(Self.expectedLength(sequence))")
                }
                if let index = sample.indices.first(where: { sample[$0] != Self.expectedByte(sequence, at: $0) }) {
                    mismatch("sequence \(sequence) (header at \(offset)): byte \(index) is \(sample[index]), "
                             + "not \(Self.expectedByte(sequence, at: index))")
                }
            }

            mutating func lost(cpu: Int, count: UInt64) {}

            private mutating func mismatch(_ what: String) {
                mismatches += 1
                if firstMismatches.count < 5 { firstMismatches.append(what) }
            }
        }

        func counter(_ control: LoadedMap, _ slot: UInt32) throws -> UInt64 {
            guard let bytes = try control.lookup(key: RingTestProducer.littleEndian(UInt64(slot), count: 4)) else { return 0 }
            return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }

        /// This process's read-only shared mappings of BPF maps, by length (/proc/self/maps).
        func bpfMapMappingLengths() throws -> [Int] {
            try SystemFile.readString("/proc/self/maps").split(separator: "\n").compactMap { line in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 6, fields[1] == "r--s", fields[5].hasPrefix("anon_inode:bpf-map") else { return nil }
                let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                return bounds.count == 2 ? Int(bounds[1] - bounds[0]) : nil
            }
        }

        @Test(arguments: [1, 4])
        func samplesSplitAcrossTheEndArriveWhole(pages: Int) throws {
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let ringSize = pages * pageSize
            let object = try LoadedObject(loading: try TestObjects.fixture("ringbuf_producer.o"),
                                          options: LoadOptions(maxEntries: ["ring": UInt32(ringSize)]))
            let control = try object.requiredMap("control")
            let poller = try PerfEventPoller(ringBuffer: try object.requiredMap("ring"),
                                             sink: CheckingSink(ringSize: ringSize))
            #expect(poller.ringDataSize == ringSize)
            // The producer page and the data area once, not the kernel's two copies of it.
            let mappings = try bpfMapMappingLengths()
            #expect(mappings.contains(pageSize + ringSize) && !mappings.contains(pageSize + 2 * ringSize),
                    "read-only BPF map mappings: \(mappings)")

            let attachment = try object.attach(program: "produce")
            defer { _ = attachment }
            let pollThread = try PollThread { try poller.run(drainInterval: .milliseconds(5)) }
            // Paced so that most fit (a full ring fails the output, which only thins the stream).
            let calls: UInt64 = 30_000
            try onPinnedThread(cpu: 0) {
                try RingTestProducer.target(control, thread: rtx_thread_id())
                defer { _ = try? RingTestProducer.target(control, thread: 0) }
                _ = rtx_getppid_paced(calls, 20_000)
            }
            poller.stop()
            try pollThread.join()
            poller.drain()

            let emitted = try counter(control, Self.emittedSlot)
            let failed = try counter(control, Self.failedSlot)
            let sink = poller.withSink { $0 }
            let statistics = poller.statistics()
            print("ring buffer of \(ringSize) bytes: \(calls) calls, \(emitted) emitted, \(failed) failed (ring full), "
                  + "\(sink.received) received, \(sink.split) split across the end, \(sink.mismatches) wrong")

            #expect(emitted + failed == calls)
            #expect(UInt64(sink.received) == emitted)
            #expect(sink.mismatches == 0, "\(sink.firstMismatches)")
            #expect(sink.split >= 50, "too few samples were split across the end to exercise the copy")
            #expect(statistics.allSatisfy { $0.framingErrors == 0 && $0.samples == UInt64(sink.received) })
        }
    }
}
