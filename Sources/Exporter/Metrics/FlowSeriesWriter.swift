/// Renders flow series lines straight from `FlowKey`s, with no intermediate strings.
///
/// The constant parts of a line (`tcp_retransmissions_total{ip_version="`, `",src_ip="`, ...)
/// are laid out once per label selection; a line is then a few byte copies, the address and
/// port digits, and the count. None of the values can contain `\`, `"` or a newline (digits,
/// hex, dots, colons, state names), so no escaping is needed on this path.
struct FlowSeriesWriter {
    let labels: [FlowLabel]
    /// `{label="` for the first label, `",label="` for the others; then `"} `.
    private let separators: [[UInt8]]
    private let closing: [UInt8] = Array("\"} ".utf8)

    /// Longest possible line: name, every label's separator and value, count.
    let maximumLineLength: Int

    init(selection: FlowLabelSelection) {
        labels = selection.labels
        separators = selection.labels.enumerated().map { position, label in
            Array(((position == 0 ? "{" : "\",") + label.rawValue + "=\"").utf8)
        }
        maximumLineLength = 64 + separators.reduce(0) { $0 + $1.count }
            + labels.count * IPAddressText.maximumLength + DecimalText.maximumLength + 8
    }

    /// Appends `name{labels} count\n` for `key`.
    @inline(__always)
    func writeLine(name: [UInt8], key: FlowKey, count: UInt64, to writer: inout ExpositionWriter) {
        writer.withWritableBytes(maximumBytes: maximumLineLength + name.count) { output in
            var length = Self.copy(name, to: output)
            for (position, label) in labels.enumerated() {
                length += Self.copy(separators[position], to: output + length)
                length += Self.writeValue(label, of: key, to: output + length)
            }
            if labels.isEmpty {
                output[length] = UInt8(ascii: " ")
                length += 1
            } else {
                length += Self.copy(closing, to: output + length)
            }
            length += DecimalText.write(count, to: output + length)
            output[length] = UInt8(ascii: "\n")
            return length + 1
        }
    }

    @inline(__always)
    private static func writeValue(_ label: FlowLabel, of key: FlowKey, to output: UnsafeMutablePointer<UInt8>) -> Int {
        switch label {
        case .ipVersion:
            output[0] = key.source.isIPv4Mapped ? UInt8(ascii: "4") : UInt8(ascii: "6")
            return 1
        case .sourceIP:
            return IPAddressText.write(key.source, to: output)
        case .sourcePort:
            return DecimalText.write(UInt64(key.sourcePort), to: output)
        case .destinationIP:
            return IPAddressText.write(key.destination, to: output)
        case .destinationPort:
            return DecimalText.write(UInt64(key.destinationPort), to: output)
        case .state:
            guard let name = TCPState.name(key.state) else {
                if key.state < 0 {
                    output[0] = UInt8(ascii: "-")
                    return 1 + DecimalText.write(UInt64(key.state.magnitude), to: output + 1)
                }
                return DecimalText.write(UInt64(key.state), to: output)
            }
            output.update(from: name.utf8Start, count: name.utf8CodeUnitCount)
            return name.utf8CodeUnitCount
        }
    }

    @inline(__always)
    private static func copy(_ bytes: [UInt8], to output: UnsafeMutablePointer<UInt8>) -> Int {
        bytes.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return 0 }
            output.update(from: base, count: source.count)
            return source.count
        }
    }
}
