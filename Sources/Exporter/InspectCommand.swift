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
            .value("target-btf", "PATH",
                   help: "Resolve CO-RE relocations against this kernel BTF (e.g. /sys/kernel/btf/vmlinux) and show the values."),
        ],
        positionals: [("file.o", "The BPF object file (ELF, EM_BPF).")])

    var file: String
    var json: Bool
    var disassemble: Bool
    var targetBTF: String?

    init(_ arguments: ParsedArguments) throws(UsageError) {
        file = arguments.positionals.first ?? ""
        json = arguments.flag("json")
        disassemble = arguments.flag("disassemble")
        targetBTF = arguments.value("target-btf")
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
        var core = InspectCORE.none
        if let targetBTF {
            do {
                let target = CORETarget(vmlinux: try KernelBTF(vmlinux: try SystemFile.readBytes(targetBTF)))
                core = InspectCORE(targetPath: targetBTF, resolutions: try CORERelocator.relocate(object, target: target).resolutions)
            } catch let error as FileReadError {
                throw failure("\(error)")
            } catch let error as ObjectReadError {
                throw failure("\(targetBTF): \(error)")
            } catch let error as CORERelocationError {
                throw failure("\(file) against \(targetBTF): \(error)")
            }
        }
        let output = json
            ? InspectJSON.render(object, file: file, disassemble: disassemble, core: core)
            : InspectText.render(object, file: file, disassemble: disassemble, core: core)
        print(output, terminator: "")
    }

    /// Errors go to stderr, and the exit code is 1.
    private func failure(_ message: String) -> ExitStatus {
        let line = Array("error: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        return ExitStatus.failure
    }
}
