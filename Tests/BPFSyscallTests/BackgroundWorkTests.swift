#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import BPFSyscall

/// The loader's side-by-side work (kernel BTF search beside map creation, programs verified
/// together): every element runs exactly once, off the calling thread but the first, and the
/// outcomes come back in order, failures in their places.
@Suite struct BackgroundWorkTests {
    struct Failure: Error, Equatable { var index: Int }

    @Test func outcomesComeBackInOrderWithFailuresInPlace() throws {
        let runs = Mutex<[Int]>([])
        let outcomes = BackgroundWork<Int>.map(Array(0..<6), name: "test") { index in
            runs.withLock { $0.append(index) }
            usleep(UInt32((6 - index) * 2_000)) // the later ones finish first
            if index == 2 || index == 4 { throw Failure(index: index) }
            return index * 10
        }
        #expect(runs.withLock { $0.sorted() } == Array(0..<6))
        #expect(outcomes.count == 6)
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let value): #expect(value == index * 10 && index != 2 && index != 4)
            case .failure(let error): #expect(error as? Failure == Failure(index: index))
            }
        }
    }

    /// What the privilege drop counts after joining the loader's threads:
    /// with a thread still running it waits its patience, then reports the threads as they are.
    @Test func threadIdsOnceAloneGiveUpAfterThePatience() throws {
        let clock = ContinuousClock()
        let started = clock.now
        let held = try DedicatedThread(name: "held") { usleep(300_000) }
        let ids = try ProcessThreads.idsOnceAlone(patience: .milliseconds(30))
        let waited = clock.now - started
        held.join()
        #expect(ids.count >= 2)
        #expect(waited >= .milliseconds(30) && waited < .milliseconds(290))
    }

    @Test func theFirstRunsOnTheCallingThreadAndTheOthersDoNot() throws {
        let caller = pthread_self()
        let onCaller = BackgroundWork<Bool>.map(Array(0..<3), name: "test") { _ in pthread_equal(pthread_self(), caller) != 0 }
        #expect(try onCaller.map { try $0.get() } == [true, false, false])
    }

    @Test func aSingleWorkRunsOnItsOwnThreadAndIsCollectedOnce() throws {
        let caller = pthread_self()
        let runs = Mutex(0)
        let work = BackgroundWork<Bool>(name: "test") {
            runs.withLock { $0 += 1 }
            return pthread_equal(pthread_self(), caller) == 0
        }
        #expect(try work.value())
        #expect(try work.value()) // collecting again returns the same outcome, without running it again
        #expect(runs.withLock { $0 } == 1)
    }

    @Test func noElementsNoWork() {
        #expect(BackgroundWork<Int>.map([Int](), name: "test") { $0 }.isEmpty)
    }
}
