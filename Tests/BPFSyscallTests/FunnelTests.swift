import Foundation
import Testing

/// One funnel for raw calls: the only Swift file that calls the C shim is
/// Sources/BPFSyscall/Syscalls+Kernel.swift (every other file goes through `Syscalls`),
/// and the kernel calls that Glibc offers directly are made there too.
@Suite struct FunnelTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources").path
    static let funnel = "BPFSyscall/Syscalls+Kernel.swift"

    static func swiftFiles() throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: sources).filter { $0.hasSuffix(".swift") }.sorted()
    }

    @Test func noShimCallOutsideTheFunnel() throws {
        let files = try Self.swiftFiles()
        #expect(files.contains(Self.funnel))
        var offenders: [String] = []
        for file in files where file != Self.funnel {
            let text = try String(contentsOfFile: Self.sources + "/" + file, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains("cbpf_") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                offenders.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(offenders.isEmpty, "shim calls outside \(Self.funnel):\n\(offenders.joined(separator: "\n"))")
    }

    /// Kernel calls Swift could make through Glibc: only in the funnel. (Syscalls+Wrappers.swift
    /// calls the funnel's closures, which share these names, so only `Glibc.`-qualified calls
    /// count there.)
    @Test func noRawKernelCallOutsideTheFunnel() throws {
        let names = "mmap|munmap|ioctl|epoll_[a-z_0-9]+|eventfd|mount|prctl|capset|capget|setresuid|setresgid"
            + "|setgroups|setuid|setgid|socket|bind|listen|syscall|perf_event_open"
        let free = try NSRegularExpression(pattern: "(?<![A-Za-z0-9_.])(\(names))\\(")
        let qualified = try NSRegularExpression(pattern: "Glibc\\.(\(names))\\(")
        var offenders: [String] = []
        for file in try Self.swiftFiles() where file != Self.funnel {
            let text = try String(contentsOfFile: Self.sources + "/" + file, encoding: .utf8)
            let patterns = file == "BPFSyscall/Syscalls+Wrappers.swift" ? [qualified] : [free, qualified]
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                if code.contains("func ") || code.contains("case ") { continue }
                let range = NSRange(code.startIndex..., in: code)
                if patterns.contains(where: { $0.firstMatch(in: code, range: range) != nil }) {
                    offenders.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "raw calls outside \(Self.funnel):\n\(offenders.joined(separator: "\n"))")
    }
}
