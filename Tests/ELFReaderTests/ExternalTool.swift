import Foundation

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

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func run(_ arguments: [String], input: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        // Read both pipes while the tool runs, so a full pipe cannot block it.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = stdout.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = stderr.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        group.wait()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
