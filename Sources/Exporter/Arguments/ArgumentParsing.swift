/// The parsed command line of one subcommand: option values (defaults filled in),
/// flags given, positionals.
struct ParsedArguments: Sendable {
    let command: CommandSpec
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []

    /// Parses `arguments` (after the subcommand's name) against `command`.
    /// `--name value`, `--name=value`, flags, positionals, and `--` to end options.
    /// An option given twice takes the later value.
    init(_ arguments: [String], for command: CommandSpec) throws(UsageError) {
        self.command = command
        for option in command.options {
            if case .value(_, let defaultValue?) = option.kind { values[option.name] = defaultValue }
        }
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard !optionsEnded, argument.hasPrefix("-"), argument != "-" else {
                positionals.append(argument)
                continue
            }
            if argument == "--" {
                optionsEnded = true
                continue
            }
            guard argument.hasPrefix("--") else {
                throw UsageError(command: command.name, message: "unknown option '\(argument)'")
            }
            let body = argument.dropFirst(2)
            let name: String
            var inlineValue: String?
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                inlineValue = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
            }
            guard let option = command.option(named: name) else {
                throw UsageError(command: command.name, message: "unknown option '--\(name)'"
                    + (Self.suggestion(for: name, in: command).map { " (did you mean '--\($0)'?)" } ?? ""))
            }
            // Given twice, the later one wins: wrappers can append to a default command line.
            switch option.kind {
            case .flag:
                guard inlineValue == nil else {
                    throw UsageError(command: command.name, message: "'--\(name)' takes no value")
                }
                flags.insert(name)
            case .value(let placeholder, _):
                if let inlineValue {
                    values[name] = inlineValue
                } else if index < arguments.count {
                    values[name] = arguments[index]
                    index += 1
                } else {
                    throw UsageError(command: command.name, message: "'--\(name)' needs a value (\(placeholder))")
                }
            }
        }
        guard positionals.count == command.positionals.count else {
            if positionals.count < command.positionals.count {
                let missing = command.positionals[positionals.count].name
                throw UsageError(command: command.name, message: "missing \(missing)")
            }
            throw UsageError(command: command.name,
                             message: "unexpected argument '\(positionals[command.positionals.count])'")
        }
    }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The option's value, or nil when neither given nor defaulted.
    func value(_ name: String) -> String? { values[name] }

    /// The option's value converted by `convert`; a nil or a thrown error becomes a
    /// usage error naming the option and what it accepts.
    func value<T>(_ name: String, accepts: String, _ convert: (String) throws -> T?) throws(UsageError) -> T? {
        guard let text = values[name] else { return nil }
        let converted: T?
        do {
            converted = try convert(text)
        } catch {
            // Errors of the value types already name the option.
            let reason = "\(error)"
            throw UsageError(command: command.name,
                             message: reason.hasPrefix("--\(name)") ? reason : "--\(name) '\(text)': \(reason)")
        }
        guard let converted else {
            throw UsageError(command: command.name, message: "--\(name) '\(text)': expected \(accepts)")
        }
        return converted
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        try value(name, accepts: "a whole number from \(range.lowerBound) to \(range.upperBound)") { text in
            Int(text).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// An option whose values are an enum's raw values.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _: T.Type) throws(UsageError) -> T?
    where T.RawValue == String {
        try value(name, accepts: "one of " + T.allCases.map(\.rawValue).joined(separator: ", ")) { T(rawValue: $0) }
    }

    // MARK: options the spec gives a default: never absent, and the default is written once

    func defaultedValue<T>(_ name: String, accepts: String, _ convert: (String) throws -> T?) throws(UsageError) -> T {
        try present(value(name, accepts: accepts, convert), name)
    }

    func defaultedInteger(_ name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        try present(integer(name, in: range), name)
    }

    func defaultedChoice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws(UsageError) -> T
    where T.RawValue == String {
        try present(choice(name, type), name)
    }

    private func present<T>(_ value: T?, _ name: String) throws(UsageError) -> T {
        guard let value else {
            throw UsageError(command: command.name, message: "--\(name) has no value and its spec no default")
        }
        return value
    }

    /// The closest option name, for "did you mean".
    private static func suggestion(for name: String, in command: CommandSpec) -> String? {
        command.options.filter { !$0.hidden }
            .map { ($0.name, editDistance(name, $0.name)) }
            .filter { $0.1 <= max(2, name.count / 3) }
            .min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1,
                                 previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
