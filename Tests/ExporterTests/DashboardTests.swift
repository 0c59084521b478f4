import BPFSyscall
import Foundation
import KernelTestSupport
import Testing

/// deploy/grafana/retrans-exporter.json, as far as it can be checked without
/// Grafana: it loads, it has the variables and panels the issue asks for, and a
/// real Prometheus parses every query. That every query returns data from a
/// Prometheus that scraped the exporter during lossy traffic is checked by
/// DemoTests, against `make demo`'s Prometheus.
@Suite("Grafana dashboard")
struct DashboardTests {
    @Test func dashboardLoadsWithItsVariablesAndPanels() throws {
        let dashboard = try GrafanaDashboard.load()
        #expect(dashboard.schemaVersion >= 39, "schemaVersion \(dashboard.schemaVersion): Grafana 11 writes 39")
        #expect(dashboard.uid == "retrans-exporter")
        #expect(dashboard.variables["datasource"]?["type"] as? String == "datasource")
        #expect(dashboard.variables["datasource"]?["query"] as? String == "prometheus")
        let instance = try #require(dashboard.variables["instance"])
        #expect(instance["type"] as? String == "query")
        #expect(instance["definition"] as? String == GrafanaDashboard.instanceVariableQuery)
        #expect(instance["includeAll"] as? Bool == true && instance["allValue"] as? String == ".*")

        #expect(Set(dashboard.panels.map(\.id)).count == dashboard.panels.count, "panel ids must be unique")
        for panel in dashboard.panels {
            #expect(panel.datasourceUID == "${datasource}", "\(panel.title): not on the datasource variable")
            #expect(!panel.targets.isEmpty, "\(panel.title) has no query")
            for target in panel.targets {
                #expect(target.expr.contains("instance=~\"$instance\""), "\(panel.title): ignores $instance: \(target.expr)")
            }
        }
        let queries = dashboard.panels.flatMap(\.targets).map(\.expr).joined(separator: "\n")
        for needed in ["tcp:retransmission_ratio:rate5m", "tcp_segments_retransmitted_total", "tcp_segments_sent_total",
                       "topk(10, sum by (instance, src_ip, src_port, dst_ip, dst_port) (rate(tcp_retransmissions_total",
                       "topk(10, sum by (instance, dst_ip, dst_port) (rate(tcp_retransmissions_total",
                       "tcp_retransmission_failures_total", "retrans_exporter_bpf_emit_failed_total",
                       "retrans_exporter_bpf_recursion_misses_total", "retrans_exporter_series_dropped_total",
                       "retrans_exporter_events_received_total", "ALERTS{alertname=\"TCPRetransmissionRateHigh\"",
                       // Per workload and per kind (issue 11's always-on family).
                       "sum by (instance, kind) (rate(tcp_retransmitted_segments_by_cgroup_total",
                       "topk(10, sum by (instance, cgroup) (rate(tcp_retransmitted_segments_by_cgroup_total",
                       "topk(10, sum by (instance, pod_uid, kind) (rate(tcp_retransmitted_segments_by_cgroup_total",
                       "sum by (instance, netns) (rate(tcp_retransmitted_segments_by_cgroup_total",
                       "tcp_retransmitted_segments_total", "pod_uid:tcp_retransmission_ratio:rate5m",
                       "sum by (instance, netns) (rate(tcp_netns_segments_retransmitted_total"] {
            #expect(queries.contains(needed), "no panel queries \(needed)")
        }
    }

    /// Every recorded series a panel names (`level:metric:operations`) is a rule
    /// of rules.yml. (That the other names are the exporter's is checked by
    /// DemoTests against the exporter's own HELP lines.)
    @Test func recordedSeriesOfThePanelsAreRulesOfRulesYml() throws {
        let rules = try SystemFile.readString(TestPaths.repositoryRoot + "/deploy/prometheus/rules.yml")
        for name in try GrafanaDashboard.load().metricNames where name.contains(":") {
            #expect(rules.contains("- record: \(name)"), "\(name) is not a recording rule of rules.yml")
        }
    }

    /// The names DemoTests looks up in the exporter's scrape: exactly these, so
    /// that an empty or wrong extraction cannot pass that check.
    @Test func metricNamesAreReadFromTheQueries() throws {
        #expect(try GrafanaDashboard.load().metricNames == [
            "tcp:retransmission_ratio:rate5m", "tcp_segments_retransmitted_total", "tcp_segments_sent_total",
            "tcp_retransmissions_total", "tcp_retransmission_failures_total", "retrans_exporter_build_info",
            "retrans_exporter_events_received_total", "retrans_exporter_bpf_emit_failed_total",
            "retrans_exporter_bpf_recursion_misses_total", "retrans_exporter_series_dropped_total",
            "retrans_exporter_series", "tcp_retransmitted_segments_by_cgroup_total", "tcp_retransmitted_segments_total",
            "tcp_netns_segments_retransmitted_total", "tcp_netns_segments_sent_total", "pod_uid:tcp_retransmission_ratio:rate5m",
        ])
    }

    @Test(.enabled(if: PrometheusServer.isInstalled, "needs Debian's prometheus at /usr/bin/prometheus"))
    func prometheusParsesEveryQuery() throws {
        // Nothing listens on the scrape target: only the parser is under test here.
        let prometheus = try PrometheusServer(port: 21422, exporterPort: 21423)
        defer { prometheus.stop() }
        let dashboard = try GrafanaDashboard.load()
        for panel in dashboard.panels {
            for target in panel.targets {
                let query = GrafanaDashboard.substitute(target.expr)
                #expect(throws: Never.self, "\(panel.title): \(query)") { _ = try prometheus.query(query) }
            }
        }
        // The same check refuses broken PromQL, so it can fail.
        #expect(throws: (any Error).self) { _ = try prometheus.query("sum(rate(tcp_retransmissions_total[1m])") }
        #expect(throws: (any Error).self) { _ = try prometheus.query(GrafanaDashboard.substitute("rate(x[$__unknown])")) }
    }
}

/// The dashboard file read with JSONSerialization, and Grafana's variables
/// replaced the way Grafana would for a query to Prometheus.
struct GrafanaDashboard {
    static let path = TestPaths.repositoryRoot + "/deploy/grafana/retrans-exporter.json"
    static let instanceVariableQuery = "label_values(retrans_exporter_build_info, instance)"

    struct Target {
        var expr: String
        /// Tables ask for one instant; time series for a range.
        var instant: Bool
    }

    struct Panel {
        var id: Int
        var title: String
        var datasourceUID: String?
        var targets: [Target]
    }

    var schemaVersion: Int
    var uid: String
    var variables: [String: [String: Any]]
    /// Every panel but the rows.
    var panels: [Panel]

    static func load() throws -> GrafanaDashboard {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ExporterTestError("\(path) is not a JSON object")
        }
        guard let schemaVersion = json["schemaVersion"] as? Int, let uid = json["uid"] as? String,
              let templating = json["templating"] as? [String: Any], let list = templating["list"] as? [[String: Any]],
              let panelObjects = json["panels"] as? [[String: Any]] else {
            throw ExporterTestError("\(path) lacks schemaVersion, uid, templating.list or panels")
        }
        var variables: [String: [String: Any]] = [:]
        for variable in list {
            if let name = variable["name"] as? String { variables[name] = variable }
        }
        var panels: [Panel] = []
        for object in panelObjects where object["type"] as? String != "row" {
            guard let id = object["id"] as? Int, let title = object["title"] as? String,
                  let targetObjects = object["targets"] as? [[String: Any]] else {
                throw ExporterTestError("a panel without id, title or targets: \(object)")
            }
            let targets = try targetObjects.map { target -> Target in
                guard let expr = target["expr"] as? String else { throw ExporterTestError("\(title): a target without expr") }
                return Target(expr: expr, instant: target["instant"] as? Bool == true)
            }
            let datasource = object["datasource"] as? [String: Any]
            panels.append(Panel(id: id, title: title, datasourceUID: datasource?["uid"] as? String, targets: targets))
        }
        return GrafanaDashboard(schemaVersion: schemaVersion, uid: uid, variables: variables, panels: panels)
    }

    /// `$instance` as "All" (`.*`), `$__rate_interval` and `$__range` as Grafana
    /// would compute them for a short range.
    static func substitute(_ expr: String, rateInterval: String = "1m", range: String = "5m") -> String {
        expr.replacingOccurrences(of: "$instance", with: ".*")
            .replacingOccurrences(of: "$__rate_interval", with: rateInterval)
            .replacingOccurrences(of: "$__range", with: range)
    }

    /// The metric names (and recorded rule names) the queries select, without
    /// PromQL's functions and keywords.
    var metricNames: Set<String> {
        let keywords: Set<String> = ["sum", "max", "min", "avg", "count", "topk", "bottomk", "rate", "increase", "by",
                                     "without", "or", "and", "unless", "on", "ignoring", "instance", "ALERTS"]
        var names: Set<String> = []
        for expr in panels.flatMap(\.targets).map(\.expr) {
            // Drop label matchers, label lists and ranges: what stays are names.
            var text = expr
            for (open, close) in [("{", "}"), ("[", "]")] {
                while let start = text.range(of: open), let end = text.range(of: close, range: start.upperBound..<text.endIndex) {
                    text.removeSubrange(start.lowerBound..<end.upperBound)
                }
            }
            while let by = text.range(of: "by ("), let end = text.range(of: ")", range: by.upperBound..<text.endIndex) {
                text.removeSubrange(by.lowerBound..<end.upperBound)
            }
            let words = text.split { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }.map(String.init)
            names.formUnion(words.filter { !keywords.contains($0) && !($0.first?.isNumber ?? true) })
        }
        return names
    }
}
