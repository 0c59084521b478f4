import NIOCore

/// Writes the Prometheus text exposition format 0.0.4, or OpenMetrics text 1.0.0, into a
/// `ByteBuffer`. The two differ in family lines only (OpenMetrics names a counter family
/// without `_total`, has an `info` type, escapes `"` in HELP) and in the final `# EOF`; sample
/// lines are the same, so the flow series writer needs no format.
///
/// Written by hand rather than through a client library: the flow table's series are rendered
/// straight from binary keys (see `FlowSeriesWriter`), and the few other metrics need only
/// HELP, TYPE and correctly escaped samples.
struct ExpositionWriter {
    static let contentType = ExpositionFormat.prometheusText.contentType

    enum MetricType: String {
        case counter, gauge
        /// A gauge of value 1 whose labels are the information (`*_info`): OpenMetrics' info
        /// type, a gauge in Prometheus text.
        case info
    }

    let format: ExpositionFormat

    private(set) var buffer: ByteBuffer
    /// With a sink, the text leaves in chunks of about `chunkBytes` as it is written, so a
    /// large exposition is never held whole; without one it accumulates in `buffer`.
    private let sink: ((ByteBuffer) -> Void)?
    private let chunkBytes: Int

    init(capacity: Int = 16 * 1024, format: ExpositionFormat = .prometheusText) {
        self.format = format
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
        sink = nil
        chunkBytes = .max
    }

    init(chunkBytes: Int, format: ExpositionFormat = .prometheusText, sink: @escaping (ByteBuffer) -> Void) {
        self.format = format
        self.chunkBytes = chunkBytes
        self.sink = sink
        buffer = ByteBufferAllocator().buffer(capacity: chunkBytes + FlowSeriesWriter.stretch)
    }

    /// Hands a full chunk to the sink (no-op without a sink or below the chunk size).
    mutating func flushIfFull() {
        guard let sink, buffer.readableBytes >= chunkBytes else { return }
        sink(buffer)
        buffer = ByteBufferAllocator().buffer(capacity: chunkBytes + FlowSeriesWriter.stretch)
    }

    /// Ends the exposition (`# EOF` in OpenMetrics) and hands the rest to the sink; returns what
    /// was written when there is no sink.
    mutating func finish() -> ByteBuffer {
        if format == .openMetrics { buffer.writeStaticString("# EOF\n") }
        guard let sink else { return buffer }
        if buffer.readableBytes > 0 { sink(buffer) }
        buffer = ByteBuffer()
        return buffer
    }

    /// `# HELP` (escaped: `\` and newline; `"` too in OpenMetrics) and `# TYPE` lines that
    /// start a metric family; `name` is the samples' name (`..._total` for a counter).
    mutating func family(_ name: String, type: MetricType, help: String) {
        let familyName: Substring
        let typeName: String
        switch (format, type) {
        case (.openMetrics, .counter) where name.hasSuffix("_total"):
            familyName = name.dropLast(6)
            typeName = "counter"
        case (.openMetrics, .info) where name.hasSuffix("_info"):
            familyName = name.dropLast(5)
            typeName = "info"
        case (.prometheusText, .info):
            familyName = Substring(name)
            typeName = "gauge"
        default:
            familyName = Substring(name)
            typeName = type.rawValue
        }
        buffer.writeStaticString("# HELP ")
        buffer.writeSubstring(familyName)
        buffer.writeStaticString(" ")
        writeEscaped(help, escapingQuotes: format == .openMetrics)
        buffer.writeStaticString("\n# TYPE ")
        buffer.writeSubstring(familyName)
        buffer.writeStaticString(" ")
        buffer.writeString(typeName)
        buffer.writeStaticString("\n")
        flushIfFull()
    }

    /// One sample line: `name{label="value",...} value`.
    mutating func sample(_ name: String, labels: [(String, String)] = [], value: UInt64) {
        writeNameAndLabels(name, labels: labels)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: DecimalText.maximumLength) { raw in
            guard let base = raw.baseAddress else { return 0 }
            return DecimalText.write(value, to: base.assumingMemoryBound(to: UInt8.self))
        }
        buffer.writeStaticString("\n")
    }

    /// One sample line whose value is already text (a float such as `1.000000001`).
    mutating func sample(_ name: String, labels: [(String, String)] = [], valueText: String) {
        writeNameAndLabels(name, labels: labels)
        buffer.writeString(valueText)
        buffer.writeStaticString("\n")
    }

    private mutating func writeNameAndLabels(_ name: String, labels: [(String, String)]) {
        buffer.writeString(name)
        if !labels.isEmpty {
            var first = true
            for (label, value) in labels {
                buffer.writeStaticString(first ? "{" : ",")
                first = false
                buffer.writeString(label)
                buffer.writeStaticString("=\"")
                writeEscaped(value, escapingQuotes: true)
                buffer.writeStaticString("\"")
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString(" ")
    }

    /// Label values escape `\`, `"` and newline; HELP text escapes `\` and newline only.
    private mutating func writeEscaped(_ text: String, escapingQuotes: Bool) {
        guard LabelEscaping.needsEscaping(text, escapingQuotes: escapingQuotes) else {
            buffer.writeString(text)
            return
        }
        buffer.writeBytes(LabelEscaping.escaped(text, escapingQuotes: escapingQuotes))
    }

    /// Runs a fast writer over raw bytes with at least `maximumBytes` writable; `body` returns
    /// how many it wrote.
    @inline(__always)
    mutating func withWritableBytes(
        maximumBytes: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int
    ) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximumBytes) { raw in
            guard let base = raw.baseAddress else { return 0 }
            return body(base.assumingMemoryBound(to: UInt8.self))
        }
    }
}

/// The exposition's escapes: `\` and newline always, `"` in label values (and OpenMetrics HELP).
enum LabelEscaping {
    static func needsEscaping(_ text: String, escapingQuotes: Bool) -> Bool {
        text.utf8.contains { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n")
            || (escapingQuotes && $0 == UInt8(ascii: "\"")) }
    }

    static func escaped(_ text: String, escapingQuotes: Bool) -> [UInt8] {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): escaped += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): escaped += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\"") where escapingQuotes: escaped += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            default: escaped.append(byte)
            }
        }
        return escaped
    }
}

/// Seconds from nanoseconds as exact decimal text (`12.000345678`), with no floating-point
/// rounding and no Foundation formatter.
enum SecondsText {
    static func fromNanoseconds(_ nanoseconds: UInt64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        let fraction = nanoseconds % 1_000_000_000
        let digits = String(fraction)
        return "\(seconds).\(String(repeating: "0", count: 9 - digits.count))\(digits)"
    }
}
