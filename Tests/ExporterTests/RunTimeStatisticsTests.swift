import Foundation
import Testing

/// `--bpf.run-time-stats`: off by default, because while any process holds a
/// `BPF_ENABLE_STATS` descriptor the kernel times every BPF program on the host. The witness
/// is the process's own descriptor table (`anon_inode:bpf-stats`), read from /proc.
@Suite(.serialized, .enabled(if: RunningExporter.canRun, "\(RunningExporter.skipReason)"))
struct RunTimeStatisticsTests {
    static func statisticsDescriptors(of pid: Int32) throws -> Int {
        let directory = "/proc/\(pid)/fd"
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)")) == "anon_inode:bpf-stats"
        }.count
    }

    @Test func offByDefaultOnWithTheFlag() throws {
        for (arguments, wanted) in [([String](), false), (["--bpf.run-time-stats"], true)] {
            let exporter = try RunningExporter(port: 21371, arguments: arguments)
            defer { exporter.stop() }
            try exporter.waitForLog()
            let metrics = try exporter.scrape()
            #expect(try Self.statisticsDescriptors(of: exporter.pid) == (wanted ? 1 : 0), "\(arguments)")
            #expect((metrics.value("retrans_exporter_bpf_run_count_total") != nil) == wanted, "\(arguments)")
            #expect((metrics.value("retrans_exporter_bpf_run_seconds_total") != nil) == wanted, "\(arguments)")
            // Recursion misses come from the program's info, which needs no statistics.
            #expect(metrics.value("retrans_exporter_bpf_recursion_misses_total") != nil)
            #expect(exporter.stop().status == 0, "\(exporter.log)")
        }
    }
}
