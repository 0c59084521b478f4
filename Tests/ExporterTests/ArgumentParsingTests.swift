import Foundation
import Testing
@testable import Exporter

@Suite struct ArgumentParsingTests {
    static let spec = CommandSpec(
        name: "demo", abstract: "A demo.",
        options: [
            .value("web.listen-address", "ADDRESS", default: ":2112", help: "Where."),
            .value("count", "N", help: "How many."),
            .flag("json", help: "JSON."),
            .value("secret", "X", help: "Hidden.", hidden: true),
        ],
        positionals: [("file", "A file.")])

    @Test func valuesDefaultsFlagsAndPositionals() throws {
        let parsed = try ParsedArguments(["--count", "3", "--json", "a.o"], for: Self.spec)
        #expect(parsed.value("web.listen-address") == ":2112")
        #expect(try parsed.integer("count", in: 0...10) == 3)
        #expect(parsed.flag("json"))
        #expect(parsed.positionals == ["a.o"])
    }

    @Test func equalsFormAndDoubleDash() throws {
        let parsed = try ParsedArguments(["--web.listen-address=[::1]:9", "--", "--odd-file"], for: Self.spec)
        #expect(parsed.value("web.listen-address") == "[::1]:9")
        #expect(parsed.positionals == ["--odd-file"])
    }

    @Test(arguments: [
        (["--cuont", "1", "f"], "unknown option '--cuont' (did you mean '--count'?)"),
        (["--count"], "'--count' needs a value (N)"),
        (["--json=yes", "f"], "'--json' takes no value"),
        (["-x", "f"], "unknown option '-x'"),
        ([], "missing file"),
        (["a", "b"], "unexpected argument 'b'"),
    ])
    func badCommandLinesSayWhatIsWrong(arguments: [String], message: String) {
        #expect(throws: UsageError(command: "demo", message: message)) {
            try ParsedArguments(arguments, for: Self.spec)
        }
    }

    @Test func aRepeatedOptionTakesTheLaterValue() throws {
        let parsed = try ParsedArguments(["--count", "1", "--count=2", "f"], for: Self.spec)
        #expect(parsed.value("count") == "2")
    }

    @Test func conversionFailuresNameTheOptionAndWhatItAccepts() throws {
        let parsed = try ParsedArguments(["--count", "11", "f"], for: Self.spec)
        #expect(throws: UsageError(command: "demo", message: "--count '11': expected a whole number from 0 to 10")) {
            try parsed.integer("count", in: 0...10)
        }
    }

    @Test func helpListsEveryVisibleOptionWithItsDefault() {
        let help = HelpText.command(Self.spec)
        #expect(help.contains("--web.listen-address ADDRESS"))
        #expect(help.contains("(default: :2112)"))
        #expect(help.contains("--json"))
        #expect(!help.contains("--secret"))
        #expect(help.contains("<file>"))
    }

    @Test func everyRunFlagIsDocumentedInTheReadme() throws {
        let readme = try String(contentsOfFile: #filePath.split(separator: "/").dropLast(3)
            .reduce("") { $0 + "/" + $1 } + "/README.md", encoding: .utf8)
        for option in RunCommand.spec.options + TailCommand.spec.options where !option.hidden {
            #expect(readme.contains("--\(option.name)"), "README lacks --\(option.name)")
        }
    }
}
