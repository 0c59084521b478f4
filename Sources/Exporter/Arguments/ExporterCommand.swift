#if canImport(Glibc)
import Glibc
#endif

/// A subcommand: its spec, how it reads its parsed arguments, what it does.
/// `SendableMetatype`: the command table (`RetransExporter.commands`) is a global of metatypes.
protocol ExporterCommand: SendableMetatype {
    static var spec: CommandSpec { get }
    /// Reads and checks the arguments; a bad value is a `UsageError` (exit code 64).
    init(_ arguments: ParsedArguments) throws(UsageError)
    /// Throws `ExitStatus` for a chosen exit code, any other error for "error: …" and 1.
    func run() throws
}

/// Picks the subcommand (`run` when the first argument is not one), parses, runs.
enum CommandDispatcher {
    static func main(_ arguments: [String], commands: [any ExporterCommand.Type], version: String) -> Int32 {
        let specs = commands.map { $0.spec }
        var rest = arguments
        if let first = rest.first {
            switch first {
            case "-h", "--help":
                print(HelpText.topLevel(specs, version: version), terminator: "")
                return 0
            case "--version":
                print(version)
                return 0
            case "help":
                if rest.count > 1, let command = commands.first(where: { $0.spec.name == rest[1] }) {
                    print(HelpText.command(command.spec), terminator: "")
                } else {
                    print(HelpText.topLevel(specs, version: version), terminator: "")
                }
                return 0
            default:
                break
            }
        }
        var chosen = commands.first { $0.spec.name == "run" }
        if let first = rest.first, let named = commands.first(where: { $0.spec.name == first }) {
            chosen = named
            rest.removeFirst()
        } else if let first = rest.first, !first.hasPrefix("-") {
            writeStandardError("error: unknown command '\(first)'\nsee 'retrans-exporter --help'\n")
            return UsageError.exitCode
        }
        guard let command = chosen else { return UsageError.exitCode }
        if rest.prefix(while: { $0 != "--" }).contains(where: { $0 == "-h" || $0 == "--help" }) {
            print(HelpText.command(command.spec), terminator: "")
            return 0
        }
        do {
            let parsed = try ParsedArguments(rest, for: command.spec)
            try command.init(parsed).run()
            return 0
        } catch let usage as UsageError {
            writeStandardError("error: \(usage)\n")
            return UsageError.exitCode
        } catch let status as ExitStatus {
            return status.code
        } catch {
            writeStandardError("error: \(error)\n")
            return 1
        }
    }
}
