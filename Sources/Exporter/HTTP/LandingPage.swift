/// The small HTML page at `/`, pointing at the metrics.
enum LandingPage {
    static func html(telemetryPath: String, version: String) -> String {
        let path = escape(telemetryPath)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>retrans-exporter</title></head>
            <body>
            <h1>retrans-exporter</h1>
            <p>Counts every TCP retransmission with eBPF (tracepoint tcp/tcp_retransmit_skb) and serves the counts to Prometheus.</p>
            <p><a href="\(path)">Metrics</a> at <code>\(path)</code></p>
            <p>Version \(escape(version))</p>
            </body>
            </html>

            """
    }

    /// HTML text and attribute escaping: the path comes from a flag.
    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}
