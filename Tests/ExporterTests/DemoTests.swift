import BPFSyscall
import Foundation
import KernelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `make demo` for real (scripts/demo.sh on ports of its own): Prometheus gets
/// data from the exporter during the chaos traffic, the ratio crosses 2% and
/// the alert goes pending, every query of the Grafana dashboard returns data,
/// headless Chromium takes a screenshot of the graph page, and SIGINT leaves
/// nothing behind. Resources: namespaces rtx-ch-demo-*, 10.203.20.0/24, flow
/// port 7431, HTTP ports 21420 (exporter) and 21421 (Prometheus) on 127.0.0.1.
/// Loads BPF and creates namespaces: run it under the kernel lock.
@Suite("make demo", .serialized)
struct DemoTests {
    static let root = TestPaths.repositoryRoot
    static let script = root + "/scripts/demo.sh"
    static let exporterPort = 21420
    static let prometheusPort = 21421
    static let flowPort = 7431
    static let prefix = "rtx-ch-demo"
    static let chromium = Command.which("chromium")
    static let canRun = KernelTestEnvironment.isRoot && PrometheusServer.isInstalled && chromium != nil
        && ["nsenter", "python3", "ip", "nft", "promtool"].allSatisfy { Command.which($0) != nil }
        && SystemFile.exists(root + "/.build/debug/retrans-exporter")
    static let skipReason: Comment = """
        needs root, Debian's prometheus, chromium, nsenter, python3, nftables (scripts/install-deps.sh) and \
        the debug build (.build/debug/retrans-exporter)
        """

    @Test(.enabled(if: canRun, skipReason))
    func demoServesDataForEveryPanelAndLeavesNothingBehind() throws {
        let leftovers = try Self.namespaces()
        try #require(leftovers.isEmpty, "namespaces \(Self.prefix)-* exist before the demo: \(leftovers)")
        let instancesBefore = try Self.ftraceInstances()
        // Command resets every signal to its default in the child, so the script's SIGINT trap
        // runs (children of Foundation's Process inherited the test runner's blocked signals).
        let demo = try Command.start([
            "env", "DEMO_PROMETHEUS_PORT=\(Self.prometheusPort)", "DEMO_EXPORTER_PORT=\(Self.exporterPort)",
            "DEMO_SCRAPE_INTERVAL=2s", "DEMO_FLOW_PORT=\(Self.flowPort)", "DEMO_NS_PREFIX=\(Self.prefix)",
            "bash", Self.script, "--binary", Self.root + "/.build/debug/retrans-exporter",
        ])
        var stopped = false
        defer { if !stopped { Self.forceCleanup(demo) } }
        let prometheus = "http://127.0.0.1:\(Self.prometheusPort)"
        try poll(timeout: 120, interval: 0.5, "the demo's Prometheus to be ready") { () -> Bool? in
            try Self.failIfExited(demo)
            return (try? HTTP.get(prometheus + "/-/ready")) != nil ? true : nil
        }
        let ready = Date()
        let exporterPID = try #require(Self.processes(containing: "127.0.0.1:\(Self.exporterPort)")
            .first { $0.command.contains("retrans-exporter") }?.pid, "no exporter process found")
        let held = try HeldKernelObjects.held(by: exporterPID)
        // tp_btf: the retransmission program, the SYN-ACK one and the task iterator.
        #expect(held.programIDs.count == 3, "\(held)")

        // What the original's readers look at: the counter, the ratio, the alert.
        let query = { (promql: String) throws -> [PrometheusServer.Sample] in try Self.query(promql) }
        try poll(timeout: 120, interval: 1, "the ratio above 2%, the alert pending and a minute of data") { () -> Bool? in
            try Self.failIfExited(demo)
            let ratio = try query("tcp:retransmission_ratio:rate5m").first?.value ?? 0
            let alert = try query("ALERTS{alertname=\"TCPRetransmissionRateHigh\"}")
            let flows = try query("tcp_retransmissions_total{dst_ip=\"10.203.20.2\", dst_port=\"\(Self.flowPort)\"}")
            return ratio > 0.02 && !alert.isEmpty && !flows.isEmpty && Date().timeIntervalSince(ready) > 60 ? true : nil
        }
        let up = try query("up{job=\"TCPRetrans\"}")
        #expect(up.map(\.value) == [1] && up.first?.labels["instance"] == "127.0.0.1:\(Self.exporterPort)", "\(up)")
        let ratio = try query("tcp:retransmission_ratio:rate5m").first?.value ?? 0
        let alertState = try query("ALERTS{alertname=\"TCPRetransmissionRateHigh\"}").first?.labels["alertstate"]
        #expect(alertState == "pending" || alertState == "firing")

        // The sender's pod, named from its cgroup path.
        let pod = try query("sum by (pod_uid, kind) (tcp_retransmitted_segments_by_cgroup_total{pod_uid=\"0d3e4f50-6a7b-4c8d-9e0f-1a2b3c4d5e6f\"})")
        #expect(!pod.isEmpty && pod.allSatisfy { ["timeout", "fast", "tlp", "syn", "synack", "other"].contains($0.labels["kind"] ?? "") },
                "\(pod)")

        // Every dashboard query, as Grafana would send it, returns data.
        let dashboard = try GrafanaDashboard.load()
        var returned: [String] = []
        for panel in dashboard.panels {
            for target in panel.targets {
                let promql = GrafanaDashboard.substitute(target.expr, rateInterval: "30s", range: "1m")
                let samples = try Self.queryRange(promql, instant: target.instant)
                #expect(samples > 0, "\(panel.title): no data for \(promql)")
                returned.append("\(panel.title): \(samples)")
            }
        }
        let instances = try HTTP.get(prometheus + "/api/v1/label/instance/values",
                                     query: ["match[]": "retrans_exporter_build_info"])
        #expect(instances.contains("\"127.0.0.1:\(Self.exporterPort)\""), "$instance would be empty: \(instances)")
        // Every plain metric name of the dashboard is one the exporter describes.
        let exposition = try HTTP.get("http://127.0.0.1:\(Self.exporterPort)/metrics")
        for name in dashboard.metricNames where !name.contains(":") {
            #expect(exposition.contains("# TYPE \(name) "), "the exporter serves no \(name)")
        }

        let screenshot = try Self.screenshot()
        print("""
            demo: ratio \(ratio), alert \(alertState ?? "none"), dashboard queries \(returned.count) all with data; \
            screenshot \(screenshot.bytes) bytes \(screenshot.width)x\(screenshot.height), \
            \(screenshot.colours) colours, \(screenshot.inkShare) of pixels not background
            """)

        // Ctrl-C: the script's trap stops and removes everything.
        let interrupted = Date()
        let outcome = demo.stop(SIGINT, timeout: 90)
        stopped = true
        let took = Date().timeIntervalSince(interrupted)
        #expect(outcome.status == 130, "\(outcome.output)")
        #expect(outcome.stderr.contains("demo.sh: clean"), "\(outcome.output)")
        #expect(outcome.stdout.contains("tcp_retransmissions_total"), "the queries to try are missing: \(outcome.output)")
        #expect(outcome.stdout.contains("tcp:retransmission_ratio:rate5m") && outcome.stdout.contains("ALERTS{"))
        #expect(took < 30, "clean-up took \(took) s")

        let namespacesLeft = try Self.namespaces()
        #expect(namespacesLeft.isEmpty, "namespaces left: \(namespacesLeft)")
        // The sender's Kubernetes-shaped cgroup (chaos.sh --cgroup) is gone too.
        let cgroupRoot = try Command.run(["findmnt", "-n", "-t", "cgroup2", "-o", "TARGET"]).stdout
            .split(separator: "\n").first.map(String.init) ?? "/sys/fs/cgroup"
        #expect(!SystemFile.exists(cgroupRoot + "/rtx-demo.slice"), "the demo's cgroup is still there")
        let pids = Self.demoPIDs(outcome.stdout)
        #expect(pids.count == 4, "\(outcome.stdout)")
        for pid in pids + [exporterPID] {
            #expect(!SystemFile.exists("/proc/\(pid)"), "process \(pid) of the demo is still there")
        }
        #expect(try Self.processes(containing: "/tmp/rtx-demo.").isEmpty, "a process of the demo is still there")
        #expect(try Self.processes(containing: "127.0.0.1:\(Self.exporterPort)").isEmpty)
        let workDirectories = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("rtx-demo.") }
        #expect(workDirectories.isEmpty, "work directories left: \(workDirectories)")
        #expect(try Self.ftraceInstances() == instancesBefore, "ftrace instances changed")
        let programs = Set(try Bpftool.programs().compactMap { $0.int("id").map(UInt32.init) })
        #expect(programs.isDisjoint(with: held.programIDs), "the exporter's program is still loaded")
        #expect((try? HTTP.get(prometheus + "/-/ready")) == nil, "Prometheus still answers")
        #expect((try? HTTP.get("http://127.0.0.1:\(Self.exporterPort)/metrics")) == nil, "the exporter still answers")
        #expect(try !Command.run(["nft", "list", "tables"]).stdout.contains("rtx_chaos"))
    }

    @Test(arguments: [["DEMO_EXPORTER_PORT=abc"], ["DEMO_PROMETHEUS_PORT=70000"], ["DEMO_SCRAPE_INTERVAL=often"],
                      ["DEMO_EXPORTER_PORT=9999", "DEMO_PROMETHEUS_PORT=9999"]])
    func refusesBadSettingsBeforeStartingAnything(settings: [String]) throws {
        let outcome = try Command.run(["env"] + settings + ["bash", Self.script], check: false)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.hasPrefix("demo.sh: "), "\(outcome)")
        #expect(try Self.namespaces().isEmpty)
    }

    /// chaos.sh's --net (the demo's own addresses, 10.203.20.0/24) takes only 1-255.
    @Test(arguments: ["0", "256", "4a", ""])
    func chaosRefusesAnAddressBlockOutsideItsRange(net: String) throws {
        let outcome = try Command.run(["bash", Self.root + "/scripts/chaos.sh", "--net", net, "--duration", "1"], check: false)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.contains("--net"), "\(outcome)")
    }

    @Test func helpNamesThePortSettings() throws {
        let outcome = try Command.run(["bash", Self.script, "--help"])
        for setting in ["DEMO_PROMETHEUS_PORT", "DEMO_EXPORTER_PORT", "DEMO_SCRAPE_INTERVAL"] {
            #expect(outcome.stdout.contains(setting))
        }
    }

    static func failIfExited(_ demo: BackgroundCommand) throws {
        guard demo.isRunning else {
            throw ExporterTestError("the demo stopped: \((try? demo.wait(timeout: 1))?.output ?? "")")
        }
    }

    /// After a failed test: SIGTERM to the demo (its trap cleans up), then SIGKILL
    /// to any process left that belongs to it (by its unique ports and paths), and
    /// chaos.sh's own clean-up of our namespace prefix.
    static func forceCleanup(_ demo: BackgroundCommand) {
        let outcome = demo.stop(SIGTERM, timeout: 60)
        print("demo output after a failure:\n\(outcome.output)")
        for marker in ["/tmp/rtx-demo.", "127.0.0.1:\(exporterPort)", "127.0.0.1:\(prometheusPort)", prefix, "10.203.20.2"] {
            for process in (try? processes(containing: marker)) ?? [] { _ = Glibc.kill(process.pid, SIGKILL) }
        }
        _ = try? Command.run(["bash", root + "/scripts/chaos.sh", "--cleanup", "--ns-prefix", prefix])
    }

    // MARK: screenshot

    struct Screenshot {
        var bytes: Int
        var width: Int
        var height: Int
        var colours: Int
        /// Share of pixels that differ from the most common colour (the page background).
        var inkShare: Double
    }

    static let screenshotSize = (width: 1280, height: 1500)

    /// The graph page with the ratio and the retransmissions to the chaos peer.
    /// RTX_DEMO_SCREENSHOT=PATH keeps a copy (docs/images/demo-prometheus.png comes from there).
    static func screenshot() throws -> Screenshot {
        let directory = try ScratchDirectory(prefix: "/tmp/rtx-demo-shot.")
        defer { directory.remove() }
        let png = directory.path + "/graph.png"
        let expressions = ["tcp:retransmission_ratio:rate5m",
                           "sum by (src_ip, dst_ip, dst_port) (rate(tcp_retransmissions_total{dst_port=\"\(flowPort)\"}[30s]))"]
        var parameters: [String] = []
        for (index, expression) in expressions.enumerated() {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            parameters += ["g\(index).expr=\(encoded)", "g\(index).tab=0", "g\(index).range_input=2m"]
        }
        let url = "http://127.0.0.1:\(prometheusPort)/graph?" + parameters.joined(separator: "&")
        let run = try Command.run([
            chromium ?? "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=\(directory.path)/profile", "--window-size=\(screenshotSize.width),\(screenshotSize.height)",
            "--virtual-time-budget=10000", "--screenshot=\(png)", url,
        ], timeout: 120, check: false)
        try #require(SystemFile.exists(png), "chromium wrote no screenshot: \(run)")
        let shot = try measure(png)
        #expect(shot.width == screenshotSize.width && shot.height == screenshotSize.height, "\(shot)")
        #expect(shot.bytes > 20_000, "\(shot.bytes) bytes: an empty page?")
        // A blank or error page has a handful of colours; plotted lines and text have hundreds.
        #expect(shot.colours > 100 && shot.inkShare > 0.02, "\(shot)")
        if let keep = ProcessInfo.processInfo.environment["RTX_DEMO_SCREENSHOT"] {
            try Command.run(["cp", png, keep])
        }
        return shot
    }

    /// PNG size, dimensions and pixel statistics, decoded by Python's zlib (an
    /// independent reader): 8-bit RGB or RGBA, every PNG filter undone.
    static func measure(_ png: String) throws -> Screenshot {
        let script = #"""
            import struct, sys, zlib, collections
            data = open(sys.argv[1], "rb").read()
            assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
            pos, chunks = 8, []
            while pos < len(data):
                length, kind = struct.unpack(">I4s", data[pos:pos + 8])
                chunks.append((kind, data[pos + 8:pos + 8 + length]))
                pos += 12 + length
            width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
            assert chunks[0][0] == b"IHDR" and depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
            raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
            stride, rows, previous = width * bpp, [], bytearray(width * bpp)
            for y in range(height):
                kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
                for i in range(stride):
                    a = line[i - bpp] if i >= bpp else 0
                    b = previous[i]
                    c = previous[i - bpp] if i >= bpp else 0
                    if kind == 1: line[i] = (line[i] + a) & 255
                    elif kind == 2: line[i] = (line[i] + b) & 255
                    elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
                    elif kind == 4:
                        p = a + b - c
                        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
                rows.append(bytes(line))
                previous = line
            counts = collections.Counter(row[i:i + 3] for row in rows for i in range(0, stride, bpp))
            background = counts.most_common(1)[0][1]
            total = width * height
            print(len(data), width, height, len(counts), (total - background) / total)
            """#
        let output = try Command.run(["python3", "-c", script, png], timeout: 120).stdout
        let fields = output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard fields.count == 5, let bytes = Int(fields[0]), let width = Int(fields[1]), let height = Int(fields[2]),
              let colours = Int(fields[3]), let ink = Double(fields[4]) else {
            throw ExporterTestError("cannot read the PNG statistics: \(output)")
        }
        return Screenshot(bytes: bytes, width: width, height: height, colours: colours, inkShare: ink)
    }

    // MARK: witnesses

    static func query(_ promql: String) throws -> [PrometheusServer.Sample] {
        let text = try HTTP.get("http://127.0.0.1:\(prometheusPort)/api/v1/query", query: ["query": promql])
        guard let response = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              response["status"] as? String == "success", let data = response["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]] else {
            throw ExporterTestError("unexpected answer to `\(promql)`: \(text)")
        }
        return result.compactMap { entry in
            guard let labels = entry["metric"] as? [String: String], let pair = entry["value"] as? [Any], pair.count == 2,
                  let text = pair[1] as? String, let value = Double(text) else { return nil }
            return PrometheusServer.Sample(labels: labels, value: value, timestamp: (pair[0] as? NSNumber)?.doubleValue ?? 0)
        }
    }

    /// Samples returned for the last minute (a range query at 2 s steps, as a
    /// time-series panel asks), or the series of an instant query (a table).
    static func queryRange(_ promql: String, instant: Bool) throws -> Int {
        if instant { return try query(promql).count }
        let end = Date().timeIntervalSince1970
        let text = try HTTP.get("http://127.0.0.1:\(prometheusPort)/api/v1/query_range", query: [
            "query": promql, "start": String(format: "%.3f", end - 60), "end": String(format: "%.3f", end), "step": "2",
        ])
        guard let response = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              response["status"] as? String == "success", let data = response["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]] else {
            throw ExporterTestError("unexpected answer to the range query `\(promql)`: \(text)")
        }
        return result.reduce(0) { $0 + (($1["values"] as? [Any])?.count ?? 0) }
    }

    static func namespaces() throws -> [String] {
        try Command.run(["ip", "netns", "list"]).stdout.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix + "-") }
    }

    static func ftraceInstances() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/tracing/instances").sorted()
    }

    /// Processes whose command line contains `text`, with their PIDs.
    static func processes(containing text: String) throws -> [(pid: Int32, command: String)] {
        var found: [(pid: Int32, command: String)] = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry), pid != getpid(),
                  let bytes = try? SystemFile.readBytes("/proc/\(entry)/cmdline") else { continue }
            let command = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if command.contains(text) && !command.contains("swift-test") { found.append((pid, command)) }
        }
        return found
    }

    /// The `demo processes: chaos=… exporter=… forward=… prometheus=…` line.
    static func demoPIDs(_ stdout: String) -> [Int32] {
        guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("demo processes:") }) else { return [] }
        return line.split(separator: " ").compactMap { $0.split(separator: "=").last.flatMap { Int32($0) } }
    }
}
