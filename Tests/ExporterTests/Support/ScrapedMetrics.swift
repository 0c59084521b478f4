import Foundation

/// One scrape in the Prometheus text format, parsed by the test (not by the exporter's code).
struct ScrapedMetrics: CustomStringConvertible {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let text: String
    let samples: [Sample]

    init(text: String) {
        self.text = text
        var samples: [Sample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                // Label values here never contain `",` (addresses, ports, names).
                let body = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
                for pair in body.split(separator: "\",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            } else {
                name = series
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        self.samples = samples
    }

    /// The value of an unlabelled metric (or the first series of a labelled one).
    func value(_ name: String) -> Double? { samples.first { $0.name == name }?.value }

    /// The sum over the series of `name` whose labels pass `filter`.
    func sum(_ name: String, where filter: ([String: String]) -> Bool = { _ in true }) -> Double {
        samples.filter { $0.name == name && filter($0.labels) }.reduce(0) { $0 + $1.value }
    }

    func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    /// How often the exporter's programs ran, every flow on the host: each run counts one
    /// emitted event or one failed emit (`UnrunHits.proven` compares a flow's hits with it).
    var programRuns: Double {
        (value("retrans_exporter_bpf_emitted_total") ?? 0) + (value("retrans_exporter_bpf_emit_failed_total") ?? 0)
    }

    var description: String { text }
}
