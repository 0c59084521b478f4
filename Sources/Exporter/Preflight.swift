import BPFSyscall
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
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

/// The checks behind `retrans-exporter check`. Every file is read under
/// `sysRoot`, so tests can point it at a fake tree (say, one without tracefs);
/// the kernel probes (bpf(2), perf_event_open) always ask the running kernel.
/// Paths in messages are the real ones, without the root prefix.
struct Preflight: Sendable {
    var sysRoot: String = "/"
    var tracepointCategory = "tcp"
    var tracepointName = "tcp_retransmit_skb"

    /// CAP_BPF and CAP_PERFMON split out of CAP_SYS_ADMIN in Linux 5.8.
    static let capabilitySplitRelease = KernelVersion(major: 5, minor: 8)
    /// From Linux 5.11, BPF memory is charged to the memory cgroup, not RLIMIT_MEMLOCK.
    static let memcgAccountingRelease = KernelVersion(major: 5, minor: 11)
    static let tracefsLocations = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    func path(_ absolute: String) -> String {
        sysRoot == "/" || sysRoot.isEmpty ? absolute : sysRoot + absolute
    }

    func readTrimmed(_ absolute: String) throws(FileReadError) -> String {
        String(KernelText.trimmed(try SystemFile.readString(path(absolute))))
    }

    // MARK: facts the checks share

    func kernelVersion() -> KernelVersion? {
        (try? readTrimmed("/proc/sys/kernel/osrelease")).flatMap(KernelVersion.init(release:))
    }

    func effectiveCapabilities() throws(FileReadError) -> CapabilitySet? {
        CapabilitySet.effective(fromProcStatus: try SystemFile.readString(path("/proc/self/status")))
    }

    /// What stat(2) says about a path: found, or the errno. stat honours the
    /// effective capabilities; access(2) would check the real uid and ignore them.
    func statErrno(_ absolute: String) -> Int32? {
        var info = stat()
        return stat(path(absolute), &info) == 0 ? nil : errno
    }

    func fileSize(_ absolute: String) -> Int? {
        var info = stat()
        return stat(path(absolute), &info) == 0 ? Int(info.st_size) : nil
    }

    // MARK: the checks

    /// All rows, in the order a user should fix them.
    func run() -> [PreflightResult] {
        let capabilities = try? effectiveCapabilities()
        let tracefs = locateTracefs()
        let tracepoint = tracefs.location.map { readTracepoint(tracefs: $0) }
        var rows = [
            checkPrivileges(),
            checkBPFSyscall(capabilities: capabilities ?? nil),
            checkUnprivilegedBPF(capabilities: capabilities ?? nil),
            tracefs.result,
        ]
        switch tracepoint {
        case .some(.found(let id, let hasErr)):
            rows.append(PreflightResult(name: "tracepoint", status: .pass,
                                        detail: "\(tracepointCategory)/\(tracepointName), id \(id)"))
            rows.append(errFieldRow(hasErr: hasErr))
            rows.append(checkAttach(tracepointID: id, capabilities: capabilities ?? nil))
        case .some(.missing(let result)):
            rows.append(result)
            rows.append(attachNotTried(reason: "no tracepoint id"))
        case .none:
            rows.append(PreflightResult(
                name: "tracepoint", status: .fail,
                detail: "cannot look for \(tracepointCategory)/\(tracepointName): tracefs is unavailable",
                fix: "fix tracefs first (row above)"))
            rows.append(attachNotTried(reason: "no tracefs"))
        }
        rows.append(checkBTF())
        rows.append(checkPerfEventParanoid(capabilities: capabilities ?? nil))
        rows.append(checkMemlock())
        return rows
    }

    func checkPrivileges() -> PreflightResult {
        let name = "privileges"
        let uid = getuid()
        let capabilities: CapabilitySet
        do {
            guard let parsed = try effectiveCapabilities() else {
                return PreflightResult(name: name, status: .fail,
                                       detail: "no CapEff line in /proc/self/status",
                                       fix: "is /proc a Linux procfs? mount -t proc proc /proc")
            }
            capabilities = parsed
        } catch {
            return PreflightResult(name: name, status: .fail, detail: "\(error)",
                                   fix: "mount procfs: mount -t proc proc /proc")
        }
        let held = Capability.allCases.filter { capabilities.contains($0) }.map(\.name)
        let heldText = held.isEmpty ? "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN" : held.joined(separator: ", ")
        let who = "uid \(uid), effective capabilities: \(heldText)"

        if let version = kernelVersion(), version < Self.capabilitySplitRelease {
            // Before 5.8 there is no CAP_BPF or CAP_PERFMON: only CAP_SYS_ADMIN works.
            return capabilities.contains(.sysAdmin)
                ? PreflightResult(name: name, status: .pass, detail: who)
                : PreflightResult(name: name, status: .fail,
                                  detail: "\(who); Linux \(version.description) needs CAP_SYS_ADMIN",
                                  fix: "run as root (sudo); kernels before 5.8 have no CAP_BPF/CAP_PERFMON")
        }
        if capabilities.contains(.sysAdmin)
            || (capabilities.contains(.bpf) && capabilities.contains(.perfmon)) {
            return PreflightResult(name: name, status: .pass, detail: who)
        }
        let missing = [Capability.bpf, .perfmon].filter { !capabilities.contains($0) }.map(\.name)
        return PreflightResult(
            name: name, status: .fail,
            detail: "\(who); missing \(missing.joined(separator: " and "))",
            fix: "run as root (sudo), or grant CAP_BPF and CAP_PERFMON: "
                + "AmbientCapabilities= in systemd (deploy/systemd/retrans-exporter.service), "
                + "or setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep on the binary")
    }

    func checkBPFSyscall(capabilities: CapabilitySet?) -> PreflightResult {
        let name = "bpf(2)"
        do {
            try KernelProbe.createArrayMap()
            return PreflightResult(name: name, status: .pass, detail: "created and closed an array map")
        } catch {
            let privileged = capabilities.map { $0.contains(.bpf) || $0.contains(.sysAdmin) } ?? false
            let fix: String
            switch error.errno {
            case EPERM where !privileged:
                fix = "grant CAP_BPF (see privileges)"
            case EPERM:
                fix = "bpf(2) is blocked despite CAP_BPF: a seccomp profile (container runtime), "
                    + "an LSM, or kernel lockdown; allow the bpf syscall for this process"
            case ENOSYS:
                fix = "the kernel is built without CONFIG_BPF_SYSCALL: use a kernel with BPF"
            case ENOMEM, EAGAIN:
                fix = "raise the locked-memory limit (ulimit -l unlimited; LimitMEMLOCK=infinity)"
            default:
                fix = "unexpected; run with --log-level debug and report it"
            }
            return PreflightResult(name: name, status: .fail, detail: "\(error)", fix: fix)
        }
    }

    func checkUnprivilegedBPF(capabilities: CapabilitySet?) -> PreflightResult {
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
        let held = capabilities.map { $0.contains(.bpf) || $0.contains(.sysAdmin) } ?? false
        return PreflightResult(
            name: name, status: .info,
            detail: "kernel.unprivileged_bpf_disabled = \(value): \(meaning)"
                + (held ? "; CAP_BPF is held, so it does not matter" : ""))
    }

    /// Where tracefs is, or why it is not usable.
    func locateTracefs() -> (location: String?, result: PreflightResult) {
        let name = "tracefs"
        var denied: String?
        for location in Self.tracefsLocations {
            switch statErrno(location + "/events") {
            case nil:
                return (location, PreflightResult(name: name, status: .pass, detail: "mounted at \(location)"))
            case EACCES?:
                denied = denied ?? location
            default:
                continue
            }
        }
        if let denied {
            return (nil, PreflightResult(
                name: name, status: .fail,
                detail: "\(denied) is not readable by uid \(getuid()) (tracefs is mode 0700, root only)",
                fix: "run as root, or grant CAP_DAC_READ_SEARCH to read the tracepoint id "
                    + "(deploy/systemd/retrans-exporter.service does)"))
        }
        return (nil, PreflightResult(
            name: name, status: .fail,
            detail: "not mounted: no events/ under \(Self.tracefsLocations.joined(separator: " or "))",
            fix: "mount -t tracefs nodev /sys/kernel/tracing   (as root; in a container, "
                + "mount the host's /sys/kernel/tracing: deploy/kubernetes/daemonset.yaml)"))
    }

    enum TracepointLookup: Sendable, Equatable {
        case found(id: UInt64, hasErrField: Bool)
        case missing(PreflightResult)
    }

    func readTracepoint(tracefs: String) -> TracepointLookup {
        let directory = "\(tracefs)/events/\(tracepointCategory)/\(tracepointName)"
        let idText: String
        do {
            idText = try readTrimmed(directory + "/id")
        } catch {
            let fix = switch error.errno {
            case ENOENT: "the kernel has no \(tracepointCategory)/\(tracepointName) tracepoint: "
                + "it needs Linux 4.15 or later"
            case EACCES: "run as root, or grant CAP_DAC_READ_SEARCH (tracefs files are root only)"
            default: "check that tracefs is mounted read-write at \(tracefs)"
            }
            return .missing(PreflightResult(name: "tracepoint", status: .fail, detail: "\(error)", fix: fix))
        }
        guard let id = UInt64(idText) else {
            return .missing(PreflightResult(
                name: "tracepoint", status: .fail,
                detail: "\(directory)/id holds \"\(idText.prefix(40))\", not a number",
                fix: "is \(tracefs) really tracefs? remount it: mount -t tracefs nodev \(tracefs)"))
        }
        let format = (try? SystemFile.readString(path(directory + "/format"))) ?? ""
        return .found(id: id, hasErrField: Self.formatHasErrField(format))
    }

    /// The format file lists fields as "field:int err;\toffset:76;...".
    static func formatHasErrField(_ format: String) -> Bool {
        format.split(separator: "\n").contains { line in
            line.split(separator: ";").first.map { KernelText.trimmed($0).hasSuffix(" err") } ?? false
        }
    }

    func errFieldRow(hasErr: Bool) -> PreflightResult {
        hasErr
            ? PreflightResult(name: "err field", status: .pass,
                              detail: "present: failed retransmissions are counted apart "
                                + "(tcp_retransmission_failures_total)")
            : PreflightResult(name: "err field", status: .info,
                              detail: "absent (older kernel): every hit counts as a retransmission")
    }

    func checkAttach(tracepointID: UInt64, capabilities: CapabilitySet?) -> PreflightResult {
        let name = "attach"
        do {
            try KernelProbe.attachToTracepoint(id: tracepointID)
            return PreflightResult(name: name, status: .pass,
                                   detail: "a 2-instruction probe program attached to tracepoint \(tracepointID) and detached")
        } catch {
            let perfmon = capabilities.map { $0.contains(.perfmon) || $0.contains(.sysAdmin) } ?? false
            let denied = error.errno == EPERM || error.errno == EACCES
            let fix = if denied && !perfmon {
                "grant CAP_PERFMON (tracing programs and system-wide perf events need it)"
            } else if denied {
                "blocked despite CAP_PERFMON: a seccomp profile or an LSM denies "
                    + "perf_event_open or bpf; allow them for this process"
            } else if error.errno == ENOENT || error.errno == EINVAL {
                "the tracepoint id is stale or wrong: remount tracefs"
            } else {
                "unexpected; report it with the output of this check"
            }
            return PreflightResult(name: name, status: .fail, detail: "\(error)", fix: fix)
        }
    }

    func attachNotTried(reason: String) -> PreflightResult {
        PreflightResult(name: "attach", status: .fail, detail: "not tried: \(reason)",
                        fix: "fix the rows above")
    }

    func checkBTF() -> PreflightResult {
        if let size = fileSize("/sys/kernel/btf/vmlinux") {
            return PreflightResult(name: "kernel BTF", status: .pass,
                                   detail: "/sys/kernel/btf/vmlinux (\(size / 1024) KiB)")
        }
        return PreflightResult(
            name: "kernel BTF", status: .info,
            detail: "no /sys/kernel/btf/vmlinux: not needed (the program reads the tracepoint's "
                + "own fields, no CO-RE)")
    }

    func checkPerfEventParanoid(capabilities: CapabilitySet?) -> PreflightResult {
        let name = "perf_event_paranoid"
        guard let text = try? readTrimmed("/proc/sys/kernel/perf_event_paranoid"), let value = Int(text) else {
            return PreflightResult(name: name, status: .info,
                                   detail: "kernel.perf_event_paranoid not readable")
        }
        let perfmon = capabilities.map { $0.contains(.perfmon) || $0.contains(.sysAdmin) } ?? false
        if perfmon {
            return PreflightResult(name: name, status: .info,
                                   detail: "\(value); does not apply: CAP_PERFMON is held")
        }
        if value > -1 {
            return PreflightResult(
                name: name, status: .fail,
                detail: "\(value): system-wide tracepoint events need CAP_PERFMON",
                fix: "grant CAP_PERFMON (see privileges)")
        }
        return PreflightResult(name: name, status: .info, detail: "\(value): perf events open to every user")
    }

    func checkMemlock() -> PreflightResult {
        let name = "memlock"
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 else {
            return PreflightResult(name: name, status: .info, detail: "getrlimit failed: errno \(errno)")
        }
        let soft = limit.rlim_cur
        // RLIM_INFINITY is ~0, which Swift cannot import from the C macro.
        let unlimited = soft == rlim_t.max
        let text = unlimited ? "unlimited" : "\(soft / 1024) KiB"
        if let version = kernelVersion(), version >= Self.memcgAccountingRelease {
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
