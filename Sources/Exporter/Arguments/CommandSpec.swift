/// What a subcommand accepts, declared as data: the parser, the help text and the
/// error messages all come from this one description.
///
/// (swift-argument-parser would do this with property wrappers, but it links
/// FoundationEssentials into the binary: about 7 MB of a 20 MB static binary. The
/// exporter's flags are few and flat, so a small parser keeps the binary small.)
struct CommandSpec: Sendable {
    var name: String
    var abstract: String
    var options: [OptionSpec]
    /// Required positional arguments, in order: (placeholder, help).
    var positionals: [(name: String, help: String)] = []
    /// Left out of the top-level help (e.g. `bench`).
    var hidden = false

    func option(named name: String) -> OptionSpec? { options.first { $0.name == name } }
}

/// One `--name` a command accepts: a flag, or an option with a value.
struct OptionSpec: Sendable {
    enum Kind: Sendable, Equatable {
        /// `--name`: present or not.
        case flag
        /// `--name VALUE` or `--name=VALUE`; `placeholder` names the value in help.
        case value(placeholder: String, defaultValue: String?)
    }

    /// Without the dashes, e.g. `web.listen-address`.
    var name: String
    var kind: Kind
    var help: String
    var hidden = false

    static func flag(_ name: String, help: String, hidden: Bool = false) -> OptionSpec {
        OptionSpec(name: name, kind: .flag, help: help, hidden: hidden)
    }

    static func value(_ name: String, _ placeholder: String, default defaultValue: String? = nil,
                      help: String, hidden: Bool = false) -> OptionSpec {
        OptionSpec(name: name, kind: .value(placeholder: placeholder, defaultValue: defaultValue),
                   help: help, hidden: hidden)
    }
}

/// A command line that does not fit the command: printed with a pointer to `--help`,
/// exit code 64.
struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// EX_USAGE from sysexits.h, as swift-argument-parser used.
    static let exitCode: Int32 = 64

    var command: String
    var message: String

    var description: String {
        "\(message)\nsee 'retrans-exporter \(command) --help'"
    }
}

/// Ends the process with `code` after the command has printed what it had to say.
struct ExitStatus: Error, Sendable, Equatable {
    var code: Int32
    static let failure = ExitStatus(code: 1)
}
