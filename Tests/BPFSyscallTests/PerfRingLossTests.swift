import BPFSyscall
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    /// Real kernel, real tracepoint: the test producer (Fixtures/producer.c) writes
    /// one event per getppid(2) of a chosen thread and counts its own successful and
    /// failed `bpf_perf_event_output` calls.
    @Suite struct PerfRingLossTests {
        /// After the rings were drained, one more event on `cpu` makes the kernel
        /// write the drops it still holds (`PERF_RECORD_LOST` goes in front of the
        /// next record that fits), then the drain delivers them.
        func flushPendingLost(_ producer: RingTestProducer, _ poller: PerfEventPoller<CountingSink>, cpu: Int) throws {
            poller.drain()
            _ = try producer.produce(calls: 1, onCPU: cpu)
            poller.drain()
        }

        /// A one-page ring (56 records) and an unpaced burst: most events are dropped,
        /// and every one is accounted for: received == the program's successful emits,
        /// lost == its failed emits, and together they are every call the thread made.
        @Test(arguments: [0, 1])
        func burstIntoATinyRingIsCountedExactly(cpu: Int) throws {
            let online = try CPUList.online().cpus
            try #require(online.contains(cpu), "cpu \(cpu) is offline")
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events,
                                             options: PerfRingOptions(dataPageExponent: 0, wakeup: .batched),
                                             sink: CountingSink())
            #expect(poller.ringDataSize == Int(sysconf(Int32(_SC_PAGESIZE))))
            let pollThread = try PollThread(poller)
            let calls: UInt64 = 100_000
            _ = try producer.produce(calls: calls, onCPU: cpu)
            poller.stop()
            try pollThread.join()
            try flushPendingLost(producer, poller, cpu: cpu)

            let emits = try producer.emits()
            let sink = poller.withSink { $0 }
            let statistics = poller.statistics()
            print("tiny ring, burst on cpu \(cpu): \(calls + 1) calls, \(sink.samples[cpu]) received, "
                  + "\(sink.lost[cpu]) lost; program: \(emits.succeeded) emitted, \(emits.failed) failed")

            #expect(emits.succeeded + emits.failed == calls + 1)
            #expect(emits.failed > 0, "a one-page ring should overflow under an unpaced burst")
            #expect(UInt64(sink.samples[cpu]) == emits.succeeded)
            #expect(sink.lost[cpu] == emits.failed)
            #expect(UInt64(sink.totalSamples) + sink.totalLost == calls + 1)
            #expect(sink.foreign == 0)
            // The ring's own statistics say the same, and nothing arrived on other CPUs.
            for ring in statistics {
                #expect(ring.framingErrors == 0)
                #expect(ring.samples == UInt64(sink.samples[ring.cpu]))
                #expect(ring.lost == sink.lost[ring.cpu])
                if ring.cpu != cpu { #expect(ring.samples == 0 && ring.lost == 0) }
            }
        }

        /// No drops with the default ring when the reader keeps up: every call arrives.
        @Test func pacedStreamIntoTheDefaultRingLosesNothing() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events, sink: CountingSink())
            let pollThread = try PollThread(poller, drainInterval: .milliseconds(50))
            let calls: UInt64 = 50_000
            _ = try producer.produce(calls: calls, onCPU: 0, perSecond: 100_000)
            poller.stop()
            try pollThread.join()
            poller.drain()
            let emits = try producer.emits()
            let sink = poller.withSink { $0 }
            #expect(emits.succeeded == calls && emits.failed == 0)
            #expect(UInt64(sink.totalSamples) == calls)
            #expect(sink.totalLost == 0)
        }
    }
}
