import ELFReader

/// The two text formats a scrape can ask for, chosen from its `Accept` header.
enum ExpositionFormat: Sendable, Equatable {
    /// Prometheus text 0.0.4: the default, and what `*/*`, `text/plain` or no header get.
    case prometheusText
    /// OpenMetrics text 1.0.0: counter families named without `_total`, `info` type,
    /// `# EOF` at the end.
    case openMetrics

    var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format of highest quality (`q`) among those the header accepts; ties and no header go
    /// to Prometheus text. OpenMetrics is accepted as `application/openmetrics-text` with no
    /// version, 1.0.0 or 0.0.1 (the same text format; Prometheus asks for both).
    static func negotiate(accept headers: [String]) -> ExpositionFormat {
        var textQuality = headers.isEmpty ? 1.0 : 0.0
        var openMetricsQuality = 0.0
        for header in headers {
            for range in header.split(separator: ",") {
                let parts = range.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
                guard let mediaType = parts.first else { continue }
                var quality = 1.0
                var version: String?
                for parameter in parts.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                    guard pair.count == 2 else { continue }
                    if pair[0] == "q" { quality = Double(pair[1]) ?? 0 }
                    if pair[0] == "version" { version = pair[1] }
                }
                switch mediaType {
                case "application/openmetrics-text" where version == nil || version == "1.0.0" || version == "0.0.1":
                    openMetricsQuality = max(openMetricsQuality, quality)
                case "text/plain" where version == nil || version == "0.0.4", "text/*", "*/*":
                    textQuality = max(textQuality, quality)
                default:
                    break
                }
            }
        }
        return openMetricsQuality > textQuality ? .openMetrics : .prometheusText
    }
}
