import Foundation
import KernelTestSupport
import Testing

/// The built `retrans-exporter` binary run as a child process against the real
/// kernel, with real traffic in namespaces and outside witnesses (ftrace,
/// Prometheus, promtool, bpftool). One suite at a time: each starts exporters,
/// lossy transfers and Prometheus, too heavy to overlap on a 2-core machine.
///
/// Resources of this suite (no other suite uses them): namespaces `rtx-e2e-*`,
/// 10.203.5.0/24 and fd00:203::5:0/112 inside them, flow ports 7501-7599,
/// ftrace instances `rtx-e2e-*`, exporter HTTP ports 21200-21249 and Prometheus
/// ports 21250-21299 on 127.0.0.1.
@Suite(.serialized, .enabled(if: KernelTestEnvironment.isRoot, Comment(rawValue: KernelTestEnvironment.skipReason)))
struct EndToEnd {
    static let ipv4Network = "10.203.5"
    static let ipv6Network = "fd00:203::5"
}

/// `.build/debug/retrans-exporter`, found from this file's path (Tests/ExporterTests/…).
enum ExporterBinary {
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static var path: String { repositoryRoot + "/.build/debug/retrans-exporter" }

    /// The binary's path, or an error saying how to build it.
    static func require() throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw EndToEndError("""
                the exporter binary \(path) is missing: build it first with \
                `make bpf && swift build --build-tests` in \(repositoryRoot)
                """)
        }
        return path
    }
}

struct EndToEndError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every `interval` seconds until it returns a value or `timeout` passes.
@discardableResult
func poll<T>(timeout: Double, interval: Double = 0.05, _ what: @autoclosure () -> String,
             _ condition: () throws -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if let value = try condition() { return value }
        guard Date() < deadline else { throw EndToEndError("timed out after \(timeout) s waiting for \(what())") }
        usleep(UInt32(interval * 1_000_000))
    }
}
