import BPFSyscall
import KernelTestSupport
import Testing
@testable import Exporter
#if canImport(Glibc)
import Glibc
#endif

/// `retrans-exporter check`: the rows that explain (capabilities, sysctls) on known inputs,
/// and the built binary, which walks `run`'s own phase 1, as root, as nobody, and with the
/// tracefs made unreadable, where `check` and `run` must fail with the same message.
@Suite("check subcommand")
struct CheckCommandTests {
    static let isRoot = KernelTestEnvironment.isRoot
    static let canDropPrivileges = isRoot && Command.which("setpriv") != nil
    static let tracepointDirectory = "/sys/kernel/tracing/events/tcp/tcp_retransmit_skb"
    static let hasTracepoint = SystemFile.exists(tracepointDirectory + "/id")

    // MARK: rows on known inputs

    @Test(arguments: [("6.18.44-fc-v657", 6, 18), ("5.4.0-150-generic", 5, 4), ("4.19.0\n", 4, 19)])
    func kernelVersionParses(release: String, major: Int, minor: Int) {
        #expect(KernelVersion(release: release) == KernelVersion(major: major, minor: minor))
    }

    @Test func kernelVersionRejectsGarbage() {
        #expect(KernelVersion(release: "") == nil)
        #expect(KernelVersion(release: "linux") == nil)
        #expect(KernelVersion(major: 5, minor: 7) < KernelVersion(major: 5, minor: 8))
        #expect(KernelVersion(major: 5, minor: 11) > KernelVersion(major: 4, minor: 19))
    }

    /// The real format file (this kernel has `err`, see KERNEL-NOTES.md) and the same file with
    /// the line removed, as older kernels print it: the one parser `run` and `check` use.
    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and tracefs with tcp/tcp_retransmit_skb"))
    func errFieldIsFoundInTheRealFormat() throws {
        let format = try SystemFile.readString(Self.tracepointDirectory + "/format")
        #expect(format.contains("field:int err;"), "this kernel's format has err: \(format)")
        #expect(try TracepointFormat(parsing: format).hasField("err"))
        let older = format.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("field:int err;") }.joined(separator: "\n")
        #expect(try !TracepointFormat(parsing: older).hasField("err"))
    }

    static let bpfAndPerfmon = CapabilityState(
        effective: LinuxCapability.bpf.bit | LinuxCapability.perfmon.bit, permitted: 0, inheritable: 0)

    /// Before 5.8 there is no CAP_BPF: CAP_BPF + CAP_PERFMON alone are not enough.
    @Test func oldKernelNeedsSysAdmin() throws {
        let old = KernelVersion(major: 5, minor: 4)
        let privileges = Preflight.privileges(uid: 65534, capabilities: Self.bpfAndPerfmon, kernel: old)
        #expect(privileges.status == .warn)
        #expect(privileges.detail.contains("needs CAP_SYS_ADMIN"))
        let memlock = Preflight().checkMemlock(kernel: old)
        #expect(memlock.status != .info, "5.4 charges BPF maps to RLIMIT_MEMLOCK: \(memlock)")
    }

    @Test func capabilitiesWithoutRootAreEnoughOnNewKernels() throws {
        let new = KernelVersion(major: 6, minor: 1)
        #expect(Preflight.privileges(uid: 65534, capabilities: Self.bpfAndPerfmon, kernel: new).status == .info)
        let onlyBPF = CapabilityState(effective: LinuxCapability.bpf.bit, permitted: 0, inheritable: 0)
        let row = Preflight.privileges(uid: 65534, capabilities: onlyBPF, kernel: new)
        #expect(row.status == .warn)
        #expect(row.detail.contains("effective capabilities: CAP_BPF; missing CAP_PERFMON"))
        #expect(row.fix == Preflight.grantFix)
    }

    // MARK: the binary, for real

    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and the tracepoint"))
    func passesAsRoot() throws {
        let binary = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        let outcome = try Command.run([binary, "check", "--web.listen-address", "127.0.0.1:21990"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        for row in Preflight.stepNames {
            #expect(outcome.stdout.contains("✓  \(row) "), "\(row): \(outcome.output)")
        }
        #expect(!outcome.stdout.contains("\n  ✗"), "\(outcome.output)")
        #expect(outcome.stdout.contains("All required checks passed"), "\(outcome.output)")
    }

    /// A port in use is the first step to fail, as in `run`, and nothing after it is tried.
    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and the tracepoint"))
    func busyPortFailsFirstAndStopsThere() throws {
        let binary = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        let holder = try ListeningSocket.open(host: "127.0.0.1", port: 21991)
        let outcome = try Command.run([binary, "check", "--web.listen-address", "127.0.0.1:21991"], check: false)
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  listen"), "\(outcome.output)")
        #expect(outcome.stdout.contains("address already in use"), "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  attach               not tried"), "\(outcome.output)")
        holder.close()
    }

    @Test(.enabled(if: canDropPrivileges, "needs root and setpriv to become nobody"))
    func failsAsNobodyWithThePrivilegeFix() throws {
        let binary = try WorldReadableBinary()
        defer { binary.remove() }
        let outcome = try Command.run([
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", binary.path, "check",
            "--web.listen-address", "127.0.0.1:21992",
        ], check: false)
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.stdout.contains("!  privileges"), "\(outcome.output)")
        #expect(outcome.stdout.contains("uid 65534"), "\(outcome.output)")
        #expect(outcome.stdout.contains("missing CAP_BPF and CAP_PERFMON"), "\(outcome.output)")
        #expect(outcome.stdout.contains("fix: run as root (sudo), or grant CAP_BPF and CAP_PERFMON"), "\(outcome.output)")
        // tp_btf reads no tracefs: loading (the first map) is the first step that needs a privilege.
        #expect(outcome.stdout.contains("✓  tracefs              not needed"), "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  load") && outcome.stdout.contains("EPERM"), "\(outcome.output)")
    }

    /// The bug this shape fixes: `check` and `run` once decided tracefs access with different
    /// calls. Now both go through the same step: with tracefs out of reach (a non-root user
    /// with CAP_BPF and CAP_PERFMON but not CAP_DAC_READ_SEARCH, and the tracepoint program,
    /// the one that reads tracefs), both fail, with one message.
    @Test(.enabled(if: canDropPrivileges && hasTracepoint, "needs root, setpriv and the tracepoint"))
    func unreadableTracefsFailsCheckAndRunWithTheSameMessage() throws {
        let binary = try WorldReadableBinary()
        defer { binary.remove() }
        let user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"]
        let run = try Command.run(user + [binary.path, "run", "--bpf.attach", "tracepoint",
                                          "--web.listen-address", "127.0.0.1:21993"], timeout: 30, check: false)
        #expect(run.status == 1, "\(run.output)")
        let message = try #require(run.stderr.split(separator: "\n").first { $0.hasPrefix("error: ") }
            .map { String($0.dropFirst("error: ".count)) }, "\(run.output)")
        #expect(message.hasPrefix("cannot read tracefs at /sys/kernel/tracing: permission denied"), "\(message)")

        let check = try Command.run(user + [binary.path, "check", "--bpf.attach", "tracepoint",
                                            "--web.listen-address", "127.0.0.1:21993"], check: false)
        #expect(check.status == 1, "\(check.output)")
        let row = try #require(check.stdout.split(separator: "\n").first { $0.contains("✗  tracefs") }, "\(check.output)")
        #expect(row.hasSuffix(message), "check: \(row)\nrun: \(message)")
        #expect(check.stdout.contains("grant CAP_DAC_READ_SEARCH"), "\(check.output)")
    }
}
