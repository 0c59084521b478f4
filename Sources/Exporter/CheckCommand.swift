import BPFSyscall

/// `retrans-exporter check`: tells a new user what is missing before `run`
/// fails with a stack of errors. Exits non-zero exactly when `run` would fail.
struct CheckCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "check",
        abstract: "Do what `run` does before it serves (bind, load, attach, drop privileges), undo it, and say how to fix what fails.",
        options: KernelFlags.options(drainIntervalDefault: "500ms") + [
            .value("web.listen-address", "ADDRESS", default: ":2112",
                   help: "The address `run` would listen on (bound and released again)."),
            .value("run-as-user", "USER", help: "Check the switch to this user too, as `run --run-as-user` does."),
            .value("sys-root", "DIR", default: "/", help: "Read the informational /proc and /sys files under DIR (tests).",
                   hidden: true),
        ])

    var kernel: KernelFlags
    var listenAddress: ListenAddress
    var runAsUser: UserAccount?
    var sysRoot: String

    init(_ arguments: ParsedArguments) throws(UsageError) {
        kernel = try KernelFlags(arguments)
        // What `run` loads: no event times.
        kernel.eventTimestamps = false
        listenAddress = try arguments.defaultedValue("web.listen-address", accepts: "host:port") {
            try ListenAddress(parsing: $0)
        }
        runAsUser = try arguments.value("run-as-user", accepts: "a user name") { try UserAccount.lookup($0) }
        sysRoot = try arguments.defaultedValue("sys-root", accepts: "a directory") { $0 }
    }

    func run() throws {
        let preflight = Preflight(sysRoot: sysRoot, kernel: kernel.kernelOptions, listenAddress: listenAddress,
                                  runAsUser: runAsUser)
        let results = preflight.run()
        print(Self.render(results))
        if results.contains(where: { $0.status == .fail }) {
            throw ExitStatus.failure
        }
    }

    /// The table: one row per check, the fix under each failed or doubtful one.
    static func render(_ results: [PreflightResult]) -> String {
        let nameWidth = results.map(\.name.count).max() ?? 0
        var lines = ["retrans-exporter check: can `retrans-exporter run` work here?", ""]
        for result in results {
            let padding = String(repeating: " ", count: nameWidth - result.name.count)
            lines.append("  \(result.status.symbol)  \(result.name)\(padding)  \(result.detail)")
            if let fix = result.fix, result.status == .fail || result.status == .warn {
                let indent = String(repeating: " ", count: nameWidth + 7)
                lines.append("\(indent)fix: \(fix)")
            }
        }
        lines.append("")
        let failures = results.filter { $0.status == .fail }.count
        lines.append(failures == 0
            ? "All required checks passed: `retrans-exporter run` should work."
            : "\(failures) check\(failures == 1 ? "" : "s") failed (✗): `retrans-exporter run` would fail. Apply the fixes above.")
        lines.append("Legend: ✓ fine  ✗ run would fail  ! may hurt  · for information")
        return lines.joined(separator: "\n")
    }
}
