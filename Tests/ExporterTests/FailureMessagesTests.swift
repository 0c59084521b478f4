import BPFSyscall
import ELFReader
import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every failure a user can hit when starting `run`: the message (what failed and
/// what to do) and the exit code (1: the run failed; 64: the command line is wrong).
/// Through the real binary wherever the failure can be produced for real (as
/// nobody, without capabilities, without tracefs, with a tiny memlock limit);
/// through the loader's API where it cannot (bpf(2) missing from the kernel).
/// Port in use, bad flags, malformed objects and verifier rejections are the
/// end-to-end suite's; not repeated here.
@Suite(.serialized)
struct FailureMessagesTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// Runs the binary under these commands (setpriv, prlimit, unshare).
        var wrapper: [String] = []
        var arguments: [String] = []
        var exitCode: Int32
        var messages: [String]
        var testDescription: String { name }
    }

    static let fixtures = TestPaths.repositoryRoot + "/Tests/BPFSyscallTests/Fixtures"
    static let noCapabilities = ["setpriv", "--inh-caps=-all"]
    /// perf buffers beyond perf_event_mlock_kb are checked against RLIMIT_MEMLOCK only while
    /// perf_event_paranoid > -1; at -1 the memlock case cannot fail.
    static let memlockIsEnforced = ((try? SystemFile.readString("/proc/sys/kernel/perf_event_paranoid"))
        .flatMap { Int($0.filter { !$0.isWhitespace }) } ?? 2) > -1

    static let cases: [Case] = [
        Case(name: "not root: nobody, no capabilities",
             wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"],
             exitCode: 1,
             // tp_btf needs no tracefs: the first step that needs a privilege is the first map.
             messages: ["error: create map `ring`: BPF_MAP_CREATE failed: EPERM: Operation not permitted",
                        "needs root, or CAP_BPF + CAP_PERFMON"]),
        Case(name: "not root, tracepoint program: tracefs is out of reach",
             wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"],
             arguments: ["--bpf.attach", "tracepoint"],
             exitCode: 1,
             messages: ["error: cannot read tracefs at /sys/kernel/tracing: permission denied",
                        "grant CAP_DAC_READ_SEARCH besides CAP_BPF and CAP_PERFMON"]),
        Case(name: "root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN",
             wrapper: ["setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-all"],
             exitCode: 1,
             messages: ["error: create map `ring`: BPF_MAP_CREATE failed: EPERM: Operation not permitted",
                        "(needs root, or CAP_BPF + CAP_PERFMON)"]),
        Case(name: "tracefs not mounted and no CAP_SYS_ADMIN to mount it",
             // A private mount namespace: the host's tracefs stays mounted.
             wrapper: ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; exec \"$@\"",
                       "sh", "setpriv", "--bounding-set=-sys_admin", "--inh-caps=-all"],
             arguments: ["--bpf.attach", "tracepoint"],
             exitCode: 1,
             messages: ["error: tracefs not found (looked for events/ in /sys/kernel/tracing, /sys/kernel/debug/tracing)",
                        "mounting it failed: mount failed: EPERM",
                        "mount -t tracefs nodev /sys/kernel/tracing"]),
        Case(name: "the object's tracepoint does not exist",
             arguments: ["--bpf.object", fixtures + "/missing_tracepoint.o"],
             exitCode: 1,
             messages: ["error: attach to tracepoint tcp/rtx_hd_no_such_tracepoint: tracepoint tcp/rtx_hd_no_such_tracepoint"
                        + " not found in /sys/kernel/tracing/events",
                        "see /sys/kernel/tracing/available_events"]),
        Case(name: "object file missing",
             arguments: ["--bpf.object", "/nonexistent/rtx-hd.o"],
             exitCode: 1,
             messages: ["error: cannot read /nonexistent/rtx-hd.o: No such file or directory"]),
        Case(name: "object path is a directory",
             arguments: ["--bpf.object", "/tmp"],
             exitCode: 1,
             messages: ["error: cannot read /tmp: Is a directory"]),
        Case(name: "listen address that is not an address",
             arguments: ["--web.listen-address", "nonsense"],
             exitCode: 64,
             messages: ["--web.listen-address 'nonsense': expected host:port, [ipv6]:port or :port"]),
        Case(name: "listen address not on this host",
             arguments: ["--web.listen-address", "10.203.7.99:21390"],
             exitCode: 1,
             messages: ["error: cannot listen on 10.203.7.99:21390: cannot assign requested address",
                        "is 10.203.7.99 an address of this host?"]),
        Case(name: "--run-as-user names no user",
             arguments: ["--run-as-user", "rtx-hd-no-such-user"],
             exitCode: 64,
             messages: ["no user named `rtx-hd-no-such-user`", "useradd --system"]),
        Case(name: "--run-as-user without CAP_SETUID and CAP_SETGID",
             wrapper: ["setpriv", "--bounding-set=-setuid,-setgid", "--inh-caps=-all"],
             arguments: ["--run-as-user", "nobody"],
             exitCode: 1,
             messages: ["error: drop privileges: --run-as-user nobody needs CAP_SETUID and CAP_SETGID to switch user"]),
    ]

    @Test(.enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"), arguments: cases)
    func runFailsWithAdvice(_ failure: Case) throws {
        // The listen address comes first; a case's own --web.listen-address overrides it.
        let exporter = try RunningExporter(port: 21391, arguments: failure.arguments, wrapper: failure.wrapper)
        let status = exporter.waitForExit(timeout: 60)
        let log = exporter.log
        #expect(status == failure.exitCode, "\(failure.name): exit \(status)\n\(log)")
        for message in failure.messages {
            #expect(log.contains(message), "\(failure.name): missing `\(message)` in\n\(log)")
        }
    }

    /// Ring mmap beyond the locked-memory limit: root without CAP_IPC_LOCK (CAP_PERFMON does not
    /// lift this limit) and RLIMIT_MEMLOCK 0. Two 1 MiB rings exceed perf_event_mlock_kb
    /// (516 KiB per online CPU, for all of this user's perf buffers) on any CPU count.
    @Test(.enabled(if: RunningExporter.canRun && memlockIsEnforced, "\(RunningExporter.skipReason), perf_event_paranoid > -1"))
    func ringsBeyondTheMemlockLimitSayHowToFixIt() throws {
        let exporter = try RunningExporter(
            // Perf rings: a ring buffer's memory is charged to the memory cgroup, not to RLIMIT_MEMLOCK.
            port: 21392, arguments: ["--ring.kind", "perf", "--ring.pages", "256"],
            wrapper: ["prlimit", "--memlock=0:0", "setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-all"])
        let status = exporter.waitForExit(timeout: 60)
        let log = exporter.log
        #expect(status == 1, "\(log)")
        for message in ["error: open the per-CPU perf rings: perf ring on cpu ", "mmap(perf ring, 1052672 bytes) failed: EPERM",
                        "CAP_IPC_LOCK", "ulimit -l", "LimitMEMLOCK=", "smaller rings"] {
            #expect(log.contains(message), "missing `\(message)` in\n\(log)")
        }
    }

    /// Root with tracefs unmounted: the exporter mounts it itself (in a private mount
    /// namespace here, so the host's stays as it was) and runs.
    @Test(.enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
    func rootMountsAMissingTracefsItself() throws {
        let exporter = try RunningExporter(
            port: 21393,
            wrapper: ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; exec \"$@\"", "sh"])
        defer { exporter.stop() }
        try exporter.waitForLog()
        #expect(try exporter.scrape().value("retrans_exporter_events_received_total") != nil)
        #expect(exporter.stop().status == 0, "\(exporter.log)")
        #expect(SystemFile.exists("/sys/kernel/tracing/events"), "the host's tracefs must be untouched")
    }

    // MARK: through the loader's API: failures this machine cannot produce for real

    /// A kernel built without CONFIG_BPF_SYSCALL answers ENOSYS to bpf(2).
    @Test func kernelWithoutBPFSyscall() throws {
        var kernel = Syscalls.kernel
        kernel.btfLoad = { _, _, _ in -ENOSYS }
        kernel.mapCreate = { _ in -ENOSYS }
        kernel.programLoad = { _, _, _ in -ENOSYS }
        let spec = try ObjectReader.read(try SystemFile.readBytes(TestPaths.repositoryRoot + "/bpf/retrans.o"))
        let error = try #require(throws: ContextError.self) {
            _ = try LoadedObject(loading: spec, options: LoadOptions(programs: ["tcp_retransmit_skb"], syscalls: kernel))
        }
        #expect(error.rootCause as? SyscallError == SyscallError(call: "BPF_MAP_CREATE", errno: ENOSYS))
        #expect("\(error)" == "create map `events`: BPF_MAP_CREATE failed: ENOSYS: Function not implemented"
                + " (this kernel has no bpf(2) (CONFIG_BPF_SYSCALL unset))")
    }

    /// No tracefs anywhere and mounting refused (not root): where it looked, why mounting
    /// failed, the command that fixes it.
    @Test func tracefsMissingAndMountRefused() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-hd-no-tracefs-\(getpid())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }

        #expect(throws: TracefsError.notMounted(tried: [empty], mountFailure: nil)) {
            try Tracefs.locate(candidates: [empty], mountIfMissing: false)
        }
        var kernel = Syscalls.kernel
        kernel.mount = { _, _, _ in -EPERM }
        let error = try #require(throws: TracefsError.self) {
            try Tracefs.locate(candidates: [empty], mountIfMissing: true, syscalls: kernel)
        }
        if geteuid() == 0 {
            #expect(error == .notMounted(tried: [empty], mountFailure: SyscallError(call: "mount", errno: EPERM)))
        }
        #expect("\(error)".hasPrefix("tracefs not found (looked for events/ in \(empty))"))
        #expect("\(error)".contains("mount -t tracefs nodev /sys/kernel/tracing"))
    }
}
