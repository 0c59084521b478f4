import ArgumentParser
import BPFSyscall
import ELFReader
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `retrans-exporter inspect FILE.o`: the teaching view of a BPF object.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a BPF object file holds: programs, maps, relocations, BTF.")

    @Argument(help: "The BPF object file (ELF, EM_BPF).")
    var file: String

    @Flag(help: "Print JSON (schema: docs/INSPECT-JSON.md) instead of text.")
    var json = false

    @Flag(help: "Also list each program's instructions, with relocation targets and source lines.")
    var disassemble = false

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
    private func failure(_ message: String) -> ExitCode {
        let line = Array("error: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        return ExitCode(1)
    }
}
