import BPFSyscall
import KernelTestSupport
import Testing
@testable import Exporter
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `retrans-exporter check`: the parsers on known inputs, the checks on fake
/// system trees (`sysRoot`), and the built binary as root and as nobody.
@Suite("check subcommand")
struct CheckCommandTests {
    static let isRoot = KernelTestEnvironment.isRoot
    static let canDropPrivileges = isRoot && Command.which("setpriv") != nil
    static let tracepointDirectory = "/sys/kernel/tracing/events/tcp/tcp_retransmit_skb"
    static let hasTracepoint = SystemFile.exists(tracepointDirectory + "/id")

    // MARK: parsers

    @Test func capabilitiesComeFromCapEff() throws {
        // Bits 38 (CAP_PERFMON) and 39 (CAP_BPF): 0xc0_0000_0000.
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000000c000000000\nCapEff:\t000000c000000000\n"
        let capabilities = try #require(CapabilitySet.effective(fromProcStatus: status))
        #expect(capabilities.contains(.bpf))
        #expect(capabilities.contains(.perfmon))
        #expect(!capabilities.contains(.sysAdmin))
        #expect(!capabilities.contains(.dacReadSearch))
        // Bit 21 (CAP_SYS_ADMIN) alone: 0x20_0000.
        let admin = try #require(CapabilitySet.effective(fromProcStatus: "CapEff:\t0000000000200000\n"))
        #expect(admin.contains(.sysAdmin) && !admin.contains(.bpf))
        #expect(CapabilitySet.effective(fromProcStatus: "Name:\tx\n") == nil)
        #expect(CapabilitySet.effective(fromProcStatus: "CapEff:\tzz\n") == nil)
    }

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

    /// The real format file (this kernel has `err`, see KERNEL-NOTES.md) and
    /// the same file with the line removed, as older kernels print it.
    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and tracefs with tcp/tcp_retransmit_skb"))
    func errFieldIsFoundInTheRealFormat() throws {
        let format = try SystemFile.readString(Self.tracepointDirectory + "/format")
        #expect(format.contains("field:int err;"), "this kernel's format has err: \(format)")
        #expect(Preflight.formatHasErrField(format))
        let older = format.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("field:int err;") }.joined(separator: "\n")
        #expect(!Preflight.formatHasErrField(older))
        #expect(!Preflight.formatHasErrField("\tfield:int errno_like_name;\toffset:8;\tsize:4;\tsigned:1;"))
    }

    // MARK: fake system trees

    /// A tree with procfs files copied from the real system, and tracefs where asked.
    struct FakeSystem {
        let directory: ScratchDirectory
        var root: String { directory.path }

        init(tracefs: Bool, osRelease: String? = nil, procStatus: String? = nil,
             tracepointID: String? = nil, format: String? = nil) throws {
            directory = try ScratchDirectory()
            for name in ["proc", "proc/self", "proc/sys", "proc/sys/kernel", "sys", "sys/kernel",
                         "sys/kernel/tracing", "sys/kernel/debug"] {
                try directory.makeDirectory(name)
            }
            try directory.write("proc/self/status", procStatus ?? SystemFile.readString("/proc/self/status"))
            for name in ["osrelease", "unprivileged_bpf_disabled", "perf_event_paranoid"] {
                try directory.write("proc/sys/kernel/\(name)", SystemFile.readString("/proc/sys/kernel/\(name)"))
            }
            if let osRelease { try directory.write("proc/sys/kernel/osrelease", osRelease + "\n") }
            if tracefs {
                for name in ["events", "events/tcp", "events/tcp/tcp_retransmit_skb"] {
                    try directory.makeDirectory("sys/kernel/tracing/" + name)
                }
                let events = "sys/kernel/tracing/events/tcp/tcp_retransmit_skb/"
                try directory.write(events + "id", tracepointID ?? SystemFile.readString(tracepointDirectory + "/id"))
                try directory.write(events + "format", format ?? SystemFile.readString(tracepointDirectory + "/format"))
            }
        }

        func remove() { directory.remove() }
    }

    static func row(_ name: String, in results: [PreflightResult]) throws -> PreflightResult {
        try #require(results.first { $0.name == name }, "no row \(name) in \(results.map(\.name))")
    }

    @Test(.enabled(if: isRoot, "needs root: the bpf(2) probe is real"))
    func missingTracefsIsReportedWithTheMountFix() throws {
        let fake = try FakeSystem(tracefs: false)
        defer { fake.remove() }
        let results = Preflight(sysRoot: fake.root).run()

        let tracefs = try Self.row("tracefs", in: results)
        #expect(tracefs.status == .fail)
        #expect(tracefs.detail.contains("not mounted"))
        #expect(tracefs.fix?.contains("mount -t tracefs nodev /sys/kernel/tracing") == true)
        // The message names the real path, not the fake root.
        #expect(!(tracefs.detail + (tracefs.fix ?? "")).contains(fake.root))
        #expect(try Self.row("tracepoint", in: results).status == .fail)
        #expect(try Self.row("attach", in: results).status == .fail)
        // Everything else is as on the real system.
        #expect(try Self.row("privileges", in: results).status == .pass)
        #expect(try Self.row("bpf(2)", in: results).status == .pass)
    }

    @Test(.enabled(if: isRoot, "needs root"))
    func binaryExitsNonZeroWithoutTracefs() throws {
        let binary = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        let fake = try FakeSystem(tracefs: false)
        defer { fake.remove() }
        let outcome = try Command.run([binary, "check", "--sys-root", fake.root], check: false)
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  tracefs"), "\(outcome.output)")
        #expect(outcome.stdout.contains("fix: mount -t tracefs nodev /sys/kernel/tracing"), "\(outcome.output)")
        #expect(outcome.stdout.contains("`retrans-exporter run` would fail"), "\(outcome.output)")
    }

    /// An older kernel's format (no `err`) is information, not a failure; the
    /// probe attaches to the real id copied into the fake tree.
    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and the tracepoint"))
    func formatWithoutErrIsInformational() throws {
        let format = try SystemFile.readString(Self.tracepointDirectory + "/format")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("field:int err;") }.joined(separator: "\n")
        let fake = try FakeSystem(tracefs: true, format: format)
        defer { fake.remove() }
        let results = Preflight(sysRoot: fake.root).run()
        let realID = try SystemFile.readString(Self.tracepointDirectory + "/id")
        #expect(try Self.row("tracefs", in: results).status == .pass)
        let tracepoint = try Self.row("tracepoint", in: results)
        #expect(tracepoint.status == .pass)
        #expect(tracepoint.detail.hasSuffix("id \(KernelText.trimmed(realID))"))
        let errField = try Self.row("err field", in: results)
        #expect(errField.status == .info)
        #expect(errField.detail.contains("absent"))
        #expect(try Self.row("attach", in: results).status == .pass)
        #expect(!results.contains { $0.status == .fail }, "\(results)")
    }

    @Test(.enabled(if: isRoot, "needs root"))
    func garbledTracepointIDFails() throws {
        let fake = try FakeSystem(tracefs: true, tracepointID: "not-a-number\n")
        defer { fake.remove() }
        let results = Preflight(sysRoot: fake.root).run()
        let tracepoint = try Self.row("tracepoint", in: results)
        #expect(tracepoint.status == .fail)
        #expect(tracepoint.detail.contains("not a number"))
        #expect(try Self.row("attach", in: results).detail.contains("not tried"))
    }

    /// Before 5.8 there is no CAP_BPF: CAP_BPF + CAP_PERFMON alone must not pass.
    @Test func oldKernelNeedsSysAdmin() throws {
        let fake = try FakeSystem(tracefs: false, osRelease: "5.4.0-150-generic",
                                  procStatus: "CapEff:\t000000c000000000\n")
        defer { fake.remove() }
        let privileges = Preflight(sysRoot: fake.root).checkPrivileges()
        #expect(privileges.status == .fail)
        #expect(privileges.detail.contains("needs CAP_SYS_ADMIN"))
        let memlock = Preflight(sysRoot: fake.root).checkMemlock()
        #expect(memlock.status != .info, "5.4 charges BPF maps to RLIMIT_MEMLOCK: \(memlock)")
    }

    @Test func capabilitiesWithoutRootPassOnNewKernels() throws {
        let fake = try FakeSystem(tracefs: false, osRelease: "6.1.0", procStatus: "CapEff:\t000000c000000000\n")
        defer { fake.remove() }
        #expect(Preflight(sysRoot: fake.root).checkPrivileges().status == .pass)
        let missing = try FakeSystem(tracefs: false, osRelease: "6.1.0", procStatus: "CapEff:\t0000008000000000\n")
        defer { missing.remove() }
        let onlyBPF = Preflight(sysRoot: missing.root).checkPrivileges()
        #expect(onlyBPF.status == .fail)
        #expect(onlyBPF.detail.contains("missing CAP_PERFMON"))
    }

    // MARK: the binary, for real

    @Test(.enabled(if: isRoot && hasTracepoint, "needs root and the tracepoint"))
    func passesAsRoot() throws {
        let binary = try #require(TestPaths.exporterBinary, "build the exporter first (swift build)")
        let outcome = try Command.run([binary, "check"], check: false)
        #expect(outcome.status == 0, "\(outcome.output)")
        for row in ["privileges", "bpf(2)", "tracefs", "tracepoint", "attach"] {
            #expect(outcome.stdout.contains("✓  \(row) "), "\(row): \(outcome.output)")
        }
        #expect(!outcome.stdout.contains("\n  ✗"), "\(outcome.output)")
        #expect(outcome.stdout.contains("All required checks passed"), "\(outcome.output)")
    }

    @Test(.enabled(if: canDropPrivileges, "needs root and setpriv to become nobody"))
    func failsAsNobodyWithThePrivilegeFix() throws {
        let binary = try WorldReadableBinary()
        defer { binary.remove() }
        let outcome = try Command.run([
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", binary.path, "check",
        ], check: false)
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  privileges"), "\(outcome.output)")
        #expect(outcome.stdout.contains("uid 65534"), "\(outcome.output)")
        #expect(outcome.stdout.contains("missing CAP_BPF and CAP_PERFMON"), "\(outcome.output)")
        #expect(outcome.stdout.contains("fix: run as root (sudo), or grant CAP_BPF and CAP_PERFMON"), "\(outcome.output)")
        #expect(outcome.stdout.contains("✗  bpf(2)") && outcome.stdout.contains("EPERM"), "\(outcome.output)")
    }
}
