import BPFSyscall
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    /// The poll loop against the real kernel: wakeup modes, drain, timer, stop.
    @Suite struct PerfEventPollerTests {
        /// Polls `condition` every few milliseconds until it holds or `timeout` passes.
        func eventually(within timeout: Duration, _ condition: () -> Bool) -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if condition() { return true }
                usleep(2_000)
            }
            return condition()
        }

        @Test func everyEventWakesThePollThreadForEachEvent() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events,
                                             options: PerfRingOptions(wakeup: .everyEvent), sink: CountingSink())
            let pollThread = try PollThread(poller)
            defer { poller.stop(); try? pollThread.join() }
            _ = try producer.produce(calls: 5, onCPU: 0)
            // No drain: the poll thread alone must deliver them.
            #expect(eventually(within: .seconds(2)) { poller.withSink { $0.samples[0] } == 5 })
        }

        /// Below the watermark the kernel does not wake the reader: the events wait
        /// in the ring until a drain.
        @Test func watermarkHoldsEventsUntilADrain() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events,
                                             options: PerfRingOptions(wakeup: .batched), sink: CountingSink())
            let pollThread = try PollThread(poller)
            defer { poller.stop(); try? pollThread.join() }
            _ = try producer.produce(calls: 5, onCPU: 1)
            usleep(100_000)
            #expect(poller.withSink { $0.totalSamples } == 0)
            let summary = poller.drain()
            #expect(summary == DrainSummary(samples: 5))
            #expect(poller.withSink { $0.samples[1] } == 5)
            #expect(poller.drain() == DrainSummary())
        }

        /// Once a watermark's worth of bytes is written the reader wakes, without a drain.
        @Test func watermarkWakesTheReaderOnceReached() throws {
            let producer = try RingTestProducer()
            // 88-byte records (8 header + 4 size + 72 raw, padded to 8): 1760 bytes for 20 of them.
            let poller = try PerfEventPoller(perfEventArray: producer.events,
                                             options: PerfRingOptions(wakeup: .watermark(bytes: 1760)),
                                             sink: CountingSink())
            let pollThread = try PollThread(poller)
            defer { poller.stop(); try? pollThread.join() }
            _ = try producer.produce(calls: 25, onCPU: 0)
            #expect(eventually(within: .seconds(2)) { poller.withSink { $0.samples[0] } >= 20 })
        }

        @Test func drainTimerDeliversEventsBelowTheWatermark() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events, sink: CountingSink())
            let pollThread = try PollThread(poller, drainInterval: .milliseconds(20))
            defer { poller.stop(); try? pollThread.join() }
            _ = try producer.produce(calls: 7, onCPU: 0)
            #expect(eventually(within: .seconds(1)) { poller.withSink { $0.samples[0] } == 7 })
        }

        /// `stop()` from another thread ends a poll thread blocked in epoll_wait at once.
        @Test func stopEndsTheBlockedPollThreadWithinMilliseconds() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events, sink: CountingSink())
            let pollThread = try PollThread(poller)
            usleep(50_000) // let it block in epoll_wait
            let start = ContinuousClock.now
            poller.stop()
            try pollThread.join()
            let elapsed = ContinuousClock.now - start
            print("stop -> poll thread joined: \(elapsed)")
            #expect(elapsed < .milliseconds(100))
            // Stopping is final: a later run returns at once.
            try poller.run()
        }

        /// Drains from another thread while the poll thread reads the same rings:
        /// every event is delivered exactly once (the lock serialises them).
        @Test func concurrentDrainsAndPollingDeliverEachEventOnce() throws {
            let producer = try RingTestProducer()
            let poller = try PerfEventPoller(perfEventArray: producer.events,
                                             options: PerfRingOptions(wakeup: .everyEvent), sink: CountingSink())
            let pollThread = try PollThread(poller)
            let draining = Locked(true)
            let drainCount = Locked(0)
            let drainer = try DedicatedThread(name: "rtx-rg-drain") {
                while draining.withLock({ $0 }) {
                    poller.drain()
                    drainCount.withLock { $0 += 1 }
                }
            }
            let calls: UInt64 = 30_000
            _ = try producer.produce(calls: calls, onCPU: 0, perSecond: 200_000)
            draining.withLock { $0 = false }
            drainer.join()
            poller.stop()
            try pollThread.join()
            _ = try producer.produce(calls: 1, onCPU: 0) // flush any pending lost count
            poller.drain()
            let emits = try producer.emits()
            let sink = poller.withSink { $0 }
            print("concurrent drains: \(drainCount.withLock { $0 }) drains, \(sink.totalSamples) received, "
                  + "\(sink.totalLost) lost")
            #expect(emits.succeeded + emits.failed == calls + 1)
            #expect(UInt64(sink.totalSamples) == emits.succeeded)
            #expect(sink.totalLost == emits.failed)
            #expect(sink.foreign == 0)
        }

        @Test func rejectsAMapThatIsNotAPerfEventArray() throws {
            let producer = try RingTestProducer()
            #expect(throws: PerfRingError.notAPerfEventArray(map: "control", type: 2)) {
                _ = try PerfEventPoller(perfEventArray: producer.control, sink: CountingSink())
            }
        }

        @Test func rejectsAnOutOfRangeRingSize() throws {
            let producer = try RingTestProducer()
            #expect(throws: PerfRingError.self) {
                _ = try PerfEventPoller(perfEventArray: producer.events,
                                        options: PerfRingOptions(dataPageExponent: 40), sink: CountingSink())
            }
        }

        /// A CPU that does not exist is refused by perf_event_open, with the call named.
        @Test func anOfflineCPUFailsWithTheCallNamed() throws {
            let producer = try RingTestProducer()
            let error = #expect(throws: PerfRingError.self) {
                _ = try PerfEventPoller(perfEventArray: producer.events, cpus: [4095], sink: CountingSink())
            }
            guard case let .syscall(cpu, syscall)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(cpu == 4095)
            #expect(syscall.call == "perf_event_open")
            #expect(error?.description.contains("cpu 4095") == true)
        }
    }
}
