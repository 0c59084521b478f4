/// `--help` output, made from the specs.
enum HelpText {
    static let width = 80
    static let optionColumn = 30

    static func topLevel(_ commands: [CommandSpec], version: String) -> String {
        var text = """
            retrans-exporter \(version): count every TCP retransmission with eBPF and serve \
            the counts to Prometheus.

            USAGE: retrans-exporter [<command>] [<options>]

            COMMANDS:

            """
        for command in commands where !command.hidden {
            text += row(command.name + (command.name == "run" ? " (default)" : ""), command.abstract)
        }
        text += "\nSee 'retrans-exporter <command> --help' for a command's options.\n"
        return text
    }

    static func command(_ command: CommandSpec) -> String {
        let positionals = command.positionals.map { " <\($0.name)>" }.joined()
        var text = "USAGE: retrans-exporter \(command.name) [<options>]\(positionals)\n\n"
        text += wrap(command.abstract, indent: 0) + "\n"
        if !command.positionals.isEmpty {
            text += "\nARGUMENTS:\n"
            for positional in command.positionals { text += row("<\(positional.name)>", positional.help) }
        }
        text += "\nOPTIONS:\n"
        for option in command.options where !option.hidden {
            switch option.kind {
            case .flag:
                text += row("--\(option.name)", option.help)
            case .value(let placeholder, let defaultValue):
                let help = option.help + (defaultValue.map { " (default: \($0))" } ?? "")
                text += row("--\(option.name) \(placeholder)", help)
            }
        }
        text += row("-h, --help", "Show this help.")
        return text
    }

    /// `  name    help…`, the help wrapped in its own column.
    private static func row(_ name: String, _ help: String) -> String {
        let head = "  " + name
        let body = wrap(help, indent: optionColumn)
        if head.count + 2 <= optionColumn {
            let firstLine = body.dropFirst(optionColumn)
            return head + String(repeating: " ", count: optionColumn - head.count) + firstLine + "\n"
        }
        return head + "\n" + body + "\n"
    }

    private static func wrap(_ text: String, indent: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, indent + line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        let pad = String(repeating: " ", count: indent)
        return lines.map { pad + $0 }.joined(separator: "\n")
    }
}
