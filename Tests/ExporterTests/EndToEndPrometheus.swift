import Foundation
import KernelTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Debian's Prometheus server, started by the test on 127.0.0.1 with a temporary
/// configuration scraping one exporter every second, and queried through its HTTP API.
final class PrometheusServer {
    static let binary = "/usr/bin/prometheus"
    static let job = "rtx-e2e"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// One sample of an instant vector.
    struct Sample {
        var labels: [String: String]
        var value: Double
        /// Seconds since the epoch.
        var timestamp: Double
    }

    let port: Int
    let directory: URL
    private let command: BackgroundCommand
    private var stopped = false

    /// Starts Prometheus scraping `127.0.0.1:<exporterPort>/metrics` every second; ready once this returns.
    init(port: Int, exporterPort: UInt16) throws {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtx-e2e-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: \(Self.job)
                static_configs:
                  - targets: ["127.0.0.1:\(exporterPort)"]
            """
        let configPath = directory.appendingPathComponent("prometheus.yml").path
        do {
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            command = try Command.start([
                Self.binary, "--config.file", configPath,
                "--storage.tsdb.path", directory.appendingPathComponent("data").path,
                "--web.listen-address", "127.0.0.1:\(port)",
            ])
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        do {
            try poll(timeout: 60, interval: 0.2, "Prometheus on 127.0.0.1:\(port) to be ready") { () -> Bool? in
                (try? HTTP.get("http://127.0.0.1:\(port)/-/ready")) != nil ? true : nil
            }
        } catch {
            let output = stop()
            throw ExporterTestError("\(error)\n--- prometheus output\n\(output)")
        }
    }

    /// `GET /api/v1/query?query=...`: the instant vector at the current time.
    func query(_ promql: String) throws -> [Sample] {
        let text = try HTTP.get("http://127.0.0.1:\(port)/api/v1/query", query: ["query": promql])
        guard let response = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              response["status"] as? String == "success",
              let data = response["data"] as? [String: Any], data["resultType"] as? String == "vector",
              let result = data["result"] as? [[String: Any]] else {
            throw ExporterTestError("unexpected answer from Prometheus to `\(promql)`: \(text)")
        }
        return try result.map { entry in
            guard let labels = entry["metric"] as? [String: String], let pair = entry["value"] as? [Any],
                  pair.count == 2, let timestamp = (pair[0] as? NSNumber)?.doubleValue,
                  let valueText = pair[1] as? String, let value = Double(valueText) else {
                throw ExporterTestError("unexpected sample from Prometheus for `\(promql)`: \(entry)")
            }
            return Sample(labels: labels, value: value, timestamp: timestamp)
        }
    }

    /// When the latest successful scrape of the exporter started, if any did: the timestamp of
    /// its `up` sample. `timestamp()` gives a sample's own time only when applied to a selector;
    /// applied to an expression (`timestamp(up == 1)`) it gives the time of the query, which is
    /// after anything and once made this wait for nothing, so the success is a second operand.
    func lastScrapeTime() throws -> Double? {
        let up = "up{job=\"\(Self.job)\"}"
        guard let sample = try query("timestamp(\(up)) and \(up) == 1").first else { return nil }
        guard sample.value < sample.timestamp else {
            throw ExporterTestError("Prometheus gave the query's time (\(sample.timestamp)) for the scrape's (\(sample.value))")
        }
        return sample.value
    }

    /// Waits for a successful scrape that started after `time` (seconds since the epoch).
    @discardableResult
    func waitForScrape(after time: Double, timeout: Double = 30) throws -> Double {
        try poll(timeout: timeout, interval: 0.2, "a scrape after \(time)") { () -> Double? in
            guard let scraped = try lastScrapeTime(), scraped > time else { return nil }
            return scraped
        }
    }

    /// SIGTERM to our Prometheus (SIGKILL after 10 s), removes its directory; returns its output.
    @discardableResult
    func stop() -> String {
        guard !stopped else { return "" }
        stopped = true
        let outcome = command.stop(SIGTERM, timeout: 10)
        try? FileManager.default.removeItem(at: directory)
        return outcome.output
    }

    deinit { stop() }
}
