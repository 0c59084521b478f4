import Testing
import Foundation
import KernelTestSupport
@testable import BPFSyscall

/// Set in the environment of the unprivileged child.
let unprivilegedChildVariable = "RTX_LD_UNPRIVILEGED_CHILD"

/// Runs inside a child of this same test binary, started as user `nobody` with no
/// capabilities by `KernelTests.Unprivileged` (the variable below says so).
@Suite(.enabled(if: ProcessInfo.processInfo.environment[unprivilegedChildVariable] == "1",
                "runs only as the unprivileged child of KernelTests.Unprivileged"))
struct UnprivilegedChild {
    @Test func withoutPrivilegesEveryStepSaysWhatIsNeeded() throws {
        #expect(geteuid() != 0)
        let error = try #require(throws: ContextError.self) { _ = try LoadedObject(loading: HandBuilt.retransLikeObject()) }
        #expect(error.rootCause as? SyscallError == SyscallError(call: "BPF_MAP_CREATE", errno: EPERM))
        #expect(error.description == "create map `events`: BPF_MAP_CREATE failed: EPERM: Operation not permitted"
                + " (needs root, or CAP_BPF + CAP_PERFMON)")

        #expect(throws: TracefsError.permissionDenied(path: "/sys/kernel/tracing")) { try Tracefs.locate() }
        #expect(throws: SyscallError(call: "BPF_ENABLE_STATS", errno: EPERM)) {
            do { _ = try RuntimeStatistics() } catch let error as ContextError { throw error.rootCause }
        }
    }
}

extension KernelTests {
    /// Not root: the same binary, run as `nobody` with every capability dropped.
    @Suite struct Unprivileged {
        @Test func childProcessWithoutPrivilegesGetsAdvice() throws {
            let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let result = try Command.run(
                ["env", "\(unprivilegedChildVariable)=1", "NO_COLOR=1",
                 "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                 binary, "--testing-library", "swift-testing", "--filter", "UnprivilegedChild"],
                timeout: 60, check: false)
            #expect(result.succeeded, "\(result)")
            // It must have run, not been skipped.
            #expect((result.stdout + result.stderr).contains("Test withoutPrivilegesEveryStepSaysWhatIsNeeded() passed"), "\(result)")
        }
    }
}
