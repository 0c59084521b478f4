import BPFSyscall
import ELFReader
#if canImport(Glibc)
import Glibc
#endif

/// `retrans-exporter inspect FILE.o`: the teaching view of a BPF object.
struct InspectCommand: ExporterCommand {
    static let spec = CommandSpec(
        name: "inspect",
        abstract: "Show what a BPF object file holds: programs, maps, relocations, BTF.",
        options: [
            .flag("json", help: "Print JSON (schema: docs/INSPECT-JSON.md) instead of text."),
            .flag("disassemble", help: "Also list each program's instructions, with relocation targets and source lines."),
        ],
        positionals: [("file.o", "The BPF object file (ELF, EM_BPF).")])

    var file: String
    var json: Bool
    var disassemble: Bool

    init(_ arguments: ParsedArguments) throws(UsageError) {
        file = arguments.positionals.first ?? ""
        json = arguments.flag("json")
        disassemble = arguments.flag("disassemble")
    }

    func run() throws {
        let object: ObjectSpec
        do {
            object = try ObjectReader.read(try SystemFile.readBytes(file))
        } catch let error as FileReadError {
            throw failure("\(error)")
        } catch let error as ObjectReadError {
            throw failure("\(file): \(error)")
        }
        let output = json
            ? InspectJSON.render(object, file: file, disassemble: disassemble)
            : InspectText.render(object, file: file, disassemble: disassemble)
        print(output, terminator: "")
    }

    /// Errors go to stderr, and the exit code is 1.
    private func failure(_ message: String) -> ExitStatus {
        let line = Array("error: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        return ExitStatus.failure
    }
}
