import Foundation
import KernelTestSupport

/// Runs the toolchain's own readers (llvm-readelf, llvm-objdump, llvm-mc):
/// the independent witnesses the reader's output is compared with.
struct ExternalTool {
    let path: String

    /// The tool found on PATH (or under /usr/lib/llvm-*/bin), or nil.
    static func find(_ names: String...) -> ExternalTool? {
        let environment = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var directories = environment.split(separator: ":").map(String.init)
        for version in (14...21).reversed() { directories.append("/usr/lib/llvm-\(version)/bin") }
        for name in names {
            for directory in directories {
                let candidate = directory + "/" + name
                if FileManager.default.isExecutableFile(atPath: candidate) { return ExternalTool(path: candidate) }
            }
        }
        return nil
    }

    func run(_ arguments: [String], input: String? = nil) throws -> CommandResult {
        try Command.run([path] + arguments, input: input, check: false)
    }
}
