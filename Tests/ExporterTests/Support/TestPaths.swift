import Foundation
import KernelTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where the tests find the repository (from this file's path) and the built binary.
enum TestPaths {
    static var repositoryRoot: String {
        // .../Tests/ExporterTests/Support/TestPaths.swift -> ...
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(4)
        return components.joined(separator: "/")
    }

    /// `RTX_HD_EXPORTER` (e.g. a release build, for RSS figures), or the build next to the
    /// test bundle (.build/<triple>/<config>/retrans-exporterPackageTests.xctest); nil if not built.
    static var exporterBinary: String? {
        if let chosen = ProcessInfo.processInfo.environment["RTX_HD_EXPORTER"] { return chosen }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var directory = executable.split(separator: "/", omittingEmptySubsequences: false)
        directory.removeLast()
        let candidate = directory.joined(separator: "/") + "/retrans-exporter"
        return access(candidate, X_OK) == 0 ? candidate : nil
    }

    /// The binary's path, or an error saying how to build it.
    static func requireExporterBinary() throws -> String {
        guard let exporterBinary else {
            throw ExporterTestError("""
                the retrans-exporter binary is not built next to the tests: build it first with \
                `make bpf && swift build --build-tests` in \(repositoryRoot)
                """)
        }
        return exporterBinary
    }
}
