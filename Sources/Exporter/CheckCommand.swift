/// `retrans-exporter check`: tells a new user what is missing before `run`
/// fails with a stack of errors. Exits non-zero exactly when `run` would fail.
struct CheckCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "check",
        abstract: "Check that this machine and this user can run the exporter, and say how to fix what is missing.",
        options: [.value("sys-root", "DIR", default: "/", help: "Look for /sys and /proc under DIR (tests).", hidden: true)])

    var sysRoot: String

    init(_ arguments: ParsedArguments) throws(UsageError) {
        sysRoot = arguments.value("sys-root") ?? "/"
    }

    func run() throws {
        let results = Preflight(sysRoot: sysRoot).run()
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
