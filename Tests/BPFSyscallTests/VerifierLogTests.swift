import Testing
import Synchronization
import ELFReader
@testable import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// The log retry policy, driven by a fake `programLoad` (the real kernel is
/// exercised by the kernel tests; here we need exact control of ENOSPC).
@Suite struct VerifierLogTests {
    /// Records every call's log size; refuses with ENOSPC until the buffer holds `fitsIn` bytes,
    /// then writes `lines` log lines and fails with EACCES.
    final class FakeVerifier: Sendable {
        let sizes = Mutex<[Int]>([])
        let fitsIn: Int
        let lines: Int
        init(fitsIn: Int, lines: Int) { self.fitsIn = fitsIn; self.lines = lines }

        var syscalls: Syscalls {
            var syscalls = Syscalls.kernel
            syscalls.programLoad = { [self] _, level, log in
                sizes.withLock { $0.append(log.count) }
                if log.isEmpty { return -EACCES }
                #expect(level == 1)
                let text = (1...lines).map { "line \($0)" }.joined(separator: "\n") + "\n"
                let bytes = Array(text.utf8)
                // As the kernel does: a rotating log that keeps the end when it does not fit.
                let kept = bytes.suffix(log.count - 1)
                log.replaceSubrange(0..<kept.count, with: kept)
                log[kept.count] = 0
                return log.count < fitsIn ? -ENOSPC : -EACCES
            }
            return syscalls
        }
    }

    static let request = ProgramLoadRequest(type: 5, name: "p", instructions: Asm.exit.bytes, license: "GPL")

    @Test func firstLoadHasNoLogThenTheLogGrowsOnENOSPC() throws {
        let fake = FakeVerifier(fitsIn: 1 << 20, lines: 30)
        let error = try #require(throws: VerifierError.self) {
            _ = try fake.syscalls.loadProgram(Self.request, logSizes: VerifierLogSizes(initial: 64 << 10, maximum: 16 << 20))
        }
        #expect(fake.sizes.withLock { $0 } == [0, 64 << 10, 256 << 10, 1 << 20])
        #expect(error.errno == EACCES)
        #expect(!error.logTruncated)
        #expect(error.logLines.count == 30)
    }

    @Test func descriptionShowsTheLastTwentyLinesAndCountsTheRest() throws {
        let fake = FakeVerifier(fitsIn: 0, lines: 30)
        let error = try #require(throws: VerifierError.self) { _ = try fake.syscalls.loadProgram(Self.request) }
        #expect(error.lastLines == (11...30).map { "line \($0)" })
        #expect(error.omittedLineCount == 10)
        #expect(error.description.hasPrefix("program `p` rejected by the verifier (EACCES: Permission denied):"))
        #expect(error.description.contains("(10 earlier lines omitted; full log with --verbose)"))
        #expect(!error.description.contains("line 10\n"))
        #expect(error.fullDescription.contains("    line 1\n"))
    }

    @Test func theLogStopsGrowingAtTheMaximum() throws {
        let fake = FakeVerifier(fitsIn: .max, lines: 50_000)
        let error = try #require(throws: VerifierError.self) {
            _ = try fake.syscalls.loadProgram(Self.request, logSizes: VerifierLogSizes(initial: 1 << 10, maximum: 16 << 10))
        }
        #expect(fake.sizes.withLock { $0 } == [0, 1 << 10, 4 << 10, 16 << 10])
        #expect(error.logTruncated)
        #expect(error.errno == EACCES, "the errno reported is the load's, not the log's ENOSPC")
        #expect(error.lastLines.last == "line 50000", "a rotating log keeps the end, where the reason is")
    }

    @Test func permissionErrorsAreNotRetriedAndCarryAdvice() throws {
        var syscalls = Syscalls.kernel
        let calls = Mutex(0)
        syscalls.programLoad = { _, _, _ in calls.withLock { $0 += 1 }; return -EPERM }
        let error = try #require(throws: SyscallError.self) { _ = try syscalls.loadProgram(Self.request) }
        #expect(calls.withLock { $0 } == 1)
        #expect(error.description == "BPF_PROG_LOAD failed: EPERM: Operation not permitted (needs root, or CAP_BPF + CAP_PERFMON)")
    }

    @Test func adviceForKnownCauses() {
        #expect(SyscallError(call: "perf_event_open", errno: ENOENT).advice
                == "tracefs not mounted or kernel lacks the tcp tracepoints")
        #expect(SyscallError(call: "BPF_MAP_CREATE", errno: EINVAL).advice?.contains("map's attributes") == true)
        #expect(SyscallError(call: "BPF_MAP_UPDATE_ELEM", errno: E2BIG).advice == nil)
    }
}
