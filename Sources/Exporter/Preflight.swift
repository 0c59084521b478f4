import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// One row of the `check` table.
struct PreflightResult: Sendable, Equatable {
    enum Status: Sendable, Equatable {
        /// Fine for `run`.
        case pass
        /// `run` would fail: the row carries the fix.
        case fail
        /// Could hurt in some setups; `run` should still work.
        case warn
        /// Worth knowing, never a problem on its own.
        case info

        var symbol: String {
            switch self {
            case .pass: "✓"
            case .fail: "✗"
            case .warn: "!"
            case .info: "·"
            }
        }
    }

    var name: String
    var status: Status
    var detail: String
    var fix: String?
}

/// The checks behind `retrans-exporter check`: phase 1 of `run` for real (`KernelSession`,
/// the same code `run` goes through, step by step), torn down at once, then the privilege
/// drop; each step a row, with the error `run` would print and the fix. Around them, facts
/// that explain a failure or may hurt later (capabilities held, sysctls, BTF, memlock), read
/// under `sysRoot` so that tests can point them at a fake tree.
struct Preflight {
    var sysRoot: String = "/"
    var kernel = KernelOptions()
    var listenAddress: ListenAddress = .default
    var runAsUser: UserAccount?
    var syscalls: Syscalls = .kernel

    /// CAP_BPF and CAP_PERFMON split out of CAP_SYS_ADMIN in Linux 5.8.
    static let capabilitySplitRelease = KernelVersion(major: 5, minor: 8)
    /// From Linux 5.11, BPF memory is charged to the memory cgroup, not RLIMIT_MEMLOCK.
    static let memcgAccountingRelease = KernelVersion(major: 5, minor: 11)
    /// Phase 1's steps in order, then the drop: a step after a failure is "not tried".
    static let stepNames = ["listen", "object", "tracefs", "tracepoint", "load", "rings", "attach", "statistics",
                            "drop privileges"]

    func path(_ absolute: String) -> String {
        sysRoot == "/" || sysRoot.isEmpty ? absolute : sysRoot + absolute
    }

    func readTrimmed(_ absolute: String) throws(FileReadError) -> String {
        String(KernelText.trimmed(try SystemFile.readString(path(absolute))))
    }

    func kernelVersion() -> KernelVersion? {
        (try? readTrimmed("/proc/sys/kernel/osrelease")).flatMap(KernelVersion.init(release:))
    }

    // MARK: the checks

    /// All rows, in the order a user should fix them.
    func run() -> [PreflightResult] {
        let capabilities = try? syscalls.capabilities()
        let version = kernelVersion()
        var rows = [Self.privileges(uid: getuid(), capabilities: capabilities, kernel: version)]
        let facts = [checkUnprivilegedBPF(capabilities: capabilities), checkBTF(),
                     checkPerfEventParanoid(capabilities: capabilities), checkMemlock(kernel: version)]

        var steps = StartupSteps()
        var failure: (any Error)?
        do {
            let socket = try steps.run("listen", { try MetricsHTTPServer.bind(listenAddress) }) { (_: borrowing BPFSyscall.FileDescriptor) in
                "\(listenAddress) bound (and released again)"
            }
            let session = try KernelSession(options: kernel, sink: DiscardingSink(), steps: &steps)
            session.close()
            socket.close()
            // Last: after it nothing privileged can be checked any more.
            _ = try steps.run("drop privileges", { try Privileges.dropAll(switchingTo: runAsUser, syscalls: syscalls) }) {
                "\($0)"
            }
        } catch {
            failure = error
        }
        for name in Self.stepNames {
            switch steps.steps.first(where: { $0.name == name })?.outcome {
            case .done(let detail)?:
                rows.append(PreflightResult(name: name, status: .pass, detail: detail))
            case .degraded(let detail)?:
                rows.append(PreflightResult(name: name, status: .warn, detail: detail,
                                            fix: "grant CAP_SYS_ADMIN, or sysctl kernel.bpf_stats_enabled=1"))
            case .failed(let detail)?:
                rows.append(PreflightResult(name: name, status: .fail, detail: detail,
                                            fix: failure.flatMap { Self.fix(step: name, error: $0, capabilities: capabilities) }))
            case nil:
                rows.append(PreflightResult(name: name, status: .fail, detail: "not tried", fix: "fix the rows above"))
            }
        }
        return rows + facts
    }

    /// The capabilities held, and whether they are the ones `run` needs: a warning here
    /// explains the ✗ of a step below.
    static func privileges(uid: UInt32, capabilities: CapabilityState?, kernel version: KernelVersion?)
        -> PreflightResult {
        let name = "privileges"
        guard let capabilities else {
            return PreflightResult(name: name, status: .warn, detail: "uid \(uid); capget failed")
        }
        let held = capabilities.effectiveNames
        let who = "uid \(uid), effective capabilities: "
            + (held.isEmpty ? "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN" : held.joined(separator: ", "))
        if let version, version < capabilitySplitRelease {
            // Before 5.8 there is no CAP_BPF or CAP_PERFMON: only CAP_SYS_ADMIN works.
            return capabilities.hasEffective(.sysAdmin)
                ? PreflightResult(name: name, status: .info, detail: who)
                : PreflightResult(name: name, status: .warn,
                                  detail: "\(who); Linux \(version.description) needs CAP_SYS_ADMIN",
                                  fix: "run as root (sudo); kernels before 5.8 have no CAP_BPF/CAP_PERFMON")
        }
        if capabilities.hasEffective(.sysAdmin) || (capabilities.hasEffective(.bpf) && capabilities.hasEffective(.perfmon)) {
            return PreflightResult(name: name, status: .info, detail: who)
        }
        let missing = [LinuxCapability.bpf, .perfmon].filter { !capabilities.hasEffective($0) }.map(\.name)
        return PreflightResult(name: name, status: .warn,
                               detail: "\(who); missing \(missing.joined(separator: " and "))",
                               fix: grantFix)
    }

    static let grantFix = "run as root (sudo), or grant CAP_BPF and CAP_PERFMON: "
        + "AmbientCapabilities= in systemd (deploy/systemd/retrans-exporter.service), "
        + "or setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep on the binary"

    /// What to do about the error that stopped step `step`, where the cause is known.
    static func fix(step: String, error: any Error, capabilities: CapabilityState?) -> String? {
        let root = error.rootCause
        var errno: Int32?
        switch root {
        case let error as SyscallError:
            errno = error.errno
        case let error as HTTPServerError:
            errno = error.errno
        case TracefsError.permissionDenied:
            errno = EACCES
        case TracefsError.notMounted:
            return "mount -t tracefs nodev /sys/kernel/tracing   (as root; in a container, "
                + "mount the host's /sys/kernel/tracing: deploy/kubernetes/daemonset.yaml)"
        default:
            break
        }
        switch (step, errno) {
        case ("tracefs", EACCES?), ("tracepoint", EACCES?):
            return "run as root, or grant CAP_DAC_READ_SEARCH to read tracefs "
                + "(deploy/systemd/retrans-exporter.service does)"
        case ("listen", EADDRINUSE?):
            return "stop the other listener, or choose another --web.listen-address"
        case (_, EPERM?), (_, EACCES?):
            let privileged = capabilities.map {
                $0.hasEffective(.sysAdmin) || ($0.hasEffective(.bpf) && $0.hasEffective(.perfmon))
            } ?? false
            return privileged
                ? "blocked despite the capabilities: a seccomp profile (container runtime), an LSM or "
                    + "kernel lockdown denies bpf(2) or perf_event_open; allow them for this process"
                : grantFix
        default:
            return nil
        }
    }

    func checkUnprivilegedBPF(capabilities: CapabilityState?) -> PreflightResult {
        let name = "unprivileged bpf"
        guard let value = try? readTrimmed("/proc/sys/kernel/unprivileged_bpf_disabled") else {
            return PreflightResult(name: name, status: .info,
                                   detail: "kernel.unprivileged_bpf_disabled not readable")
        }
        let meaning = switch value {
        case "0": "unprivileged bpf(2) allowed"
        case "1": "bpf(2) needs CAP_BPF, until reboot"
        case "2": "bpf(2) needs CAP_BPF (admin may change it)"
        default: "unknown value"
        }
        let held = capabilities.map { $0.hasEffective(.bpf) || $0.hasEffective(.sysAdmin) } ?? false
        return PreflightResult(
            name: name, status: .info,
            detail: "kernel.unprivileged_bpf_disabled = \(value): \(meaning)"
                + (held ? "; CAP_BPF is held, so it does not matter" : ""))
    }

    func checkBTF() -> PreflightResult {
        if let size = SystemFile.size(path("/sys/kernel/btf/vmlinux")) {
            return PreflightResult(name: "kernel BTF", status: .pass,
                                   detail: "/sys/kernel/btf/vmlinux (\(size / 1024) KiB)")
        }
        return PreflightResult(
            name: "kernel BTF", status: .info,
            detail: "no /sys/kernel/btf/vmlinux: not needed (the program reads the tracepoint's "
                + "own fields, no CO-RE)")
    }

    func checkPerfEventParanoid(capabilities: CapabilityState?) -> PreflightResult {
        let name = "perf_event_paranoid"
        guard let text = try? readTrimmed("/proc/sys/kernel/perf_event_paranoid"), let value = Int(text) else {
            return PreflightResult(name: name, status: .info,
                                   detail: "kernel.perf_event_paranoid not readable")
        }
        let perfmon = capabilities.map { $0.hasEffective(.perfmon) || $0.hasEffective(.sysAdmin) } ?? false
        if perfmon {
            return PreflightResult(name: name, status: .info,
                                   detail: "\(value); does not apply: CAP_PERFMON is held")
        }
        if value > -1 {
            return PreflightResult(
                name: name, status: .warn,
                detail: "\(value): system-wide tracepoint events need CAP_PERFMON",
                fix: "grant CAP_PERFMON (see privileges)")
        }
        return PreflightResult(name: name, status: .info, detail: "\(value): perf events open to every user")
    }

    func checkMemlock(kernel version: KernelVersion?) -> PreflightResult {
        let name = "memlock"
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else {
            return PreflightResult(name: name, status: .info, detail: "getrlimit failed: errno \(errno)")
        }
        let soft = limit.rlim_cur
        // RLIM_INFINITY is ~0, which Swift cannot import from the C macro.
        let unlimited = soft == rlim_t.max
        let text = unlimited ? "unlimited" : "\(soft / 1024) KiB"
        if let version, version >= Self.memcgAccountingRelease {
            return PreflightResult(
                name: name, status: .info,
                detail: "\(text); Linux \(version.description) charges BPF memory to the cgroup, not to this "
                    + "limit (perf rings beyond kernel.perf_event_mlock_kb per CPU still count)")
        }
        if unlimited || soft >= 64 << 20 {
            return PreflightResult(name: name, status: .pass, detail: text)
        }
        return PreflightResult(
            name: name, status: .warn,
            detail: "\(text); kernels before 5.11 charge BPF maps and perf rings to it",
            fix: "ulimit -l unlimited, or LimitMEMLOCK=infinity in systemd")
    }
}

/// `check`'s rings are opened and closed at once; whatever arrives meanwhile is dropped.
struct DiscardingSink: PerfEventSink {
    mutating func receive(cpu: Int, sample: UnsafeRawBufferPointer) {}
    mutating func lost(cpu: Int, count: UInt64) {}
}
