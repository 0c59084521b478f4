import ArgumentParser
import ELFReader

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a BPF object file holds: programs, maps, relocations, BTF.")

    @Argument(help: "The BPF object file (ELF, EM_BPF).")
    var file: String

    func run() throws {
        print("inspect \(file): not implemented yet")
    }
}
