import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// `promtool check metrics` on what the running binary serves after real
    /// retransmissions (flow series present, not a fixture).
    @Suite struct PromtoolTests {
        static let promtool = "/usr/bin/promtool"

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: promtool), "needs promtool at /usr/bin/promtool"))
        func liveScrapePassesPromtool() throws {
            let port: UInt16 = 7503
            let exporter = try RunningExporter.run(port: 21202)
            defer { exporter.stop() }
            let flow = try LossyFlow(name: "rtx-e2e-lint", family: .ipv6, port: port, bytes: 2 << 20).run()
            try #require(!flow.hits.isEmpty, "the lossy link should have caused retransmissions")

            let exposition = try exporter.scrape().text
            #expect(exposition.contains("tcp_retransmissions_total{ip_version=\"6\",src_ip=\"fd00:203::5:1\""),
                    "no series of the flow in the scrape:\n\(exposition)")
            let lint = try Command.run([Self.promtool, "check", "metrics"], input: exposition, check: false)
            print("e2e promtool: \(exposition.split(separator: "\n").count) lines, promtool exit \(lint.status)")
            #expect(lint.status == 0, "promtool: \(lint.stdout)\(lint.stderr)")
            #expect(lint.stdout.isEmpty && lint.stderr.isEmpty, "promtool: \(lint.stdout)\(lint.stderr)")

            let exit = exporter.stop(SIGTERM)
            #expect(exit.outcome.status == 0, "\(exit.outcome.output)")
        }
    }
}
