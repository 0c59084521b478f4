/// Renders flow series lines straight from `FlowKey`s, with no intermediate strings.
///
/// The constant parts of a line (`{ip_version="`, `",src_ip="`, ..., `"} `) are laid out once
/// per label selection; a line is then a few byte copies, the address and port digits and the
/// count, written through one raw pointer into 64 KiB stretches of the output buffer. The
/// constant parts are copied a word at a time from padded copies (a call to memcpy per
/// separator cost more than the copy). None of
/// the values can contain `\`, `"` or a newline (digits, hex, dots, colons, state and kind
/// names), so no escaping is needed on this path, except for the cgroup-derived labels, which
/// `CgroupLabelText` escapes once per scrape.
struct FlowSeriesWriter {
    private let labels: [FlowLabel]
    /// Separator bytes of every label, then the closing `"} `, back to back.
    private let template: [UInt8]
    /// (start, length) in `template` of each label's separator.
    private let separators: [(start: Int, length: Int)]
    private let closing: (start: Int, length: Int)
    private let maximumLineLengthWithoutName: Int
    /// Zero bytes after the template and the metric name, so that their last word can be read
    /// whole; the line bound leaves as much room after a line for the last word written.
    private static let wordPadding = 8
    /// How many of the labels come from the cgroup id (their length is known per scrape).
    private let cgroupLabelCount: Int
    static let stretch = 64 * 1024

    /// Which of a series' counts a family shows.
    enum Count {
        case retransmissions, failures, segments
    }

    init(selection: FlowLabelSelection) {
        labels = selection.labels
        var template: [UInt8] = []
        var separators: [(start: Int, length: Int)] = []
        for (position, label) in selection.labels.enumerated() {
            let bytes = Array(((position == 0 ? "{" : "\",") + label.rawValue + "=\"").utf8)
            separators.append((template.count, bytes.count))
            template += bytes
        }
        let closingBytes: [UInt8] = selection.labels.isEmpty ? Array(" ".utf8) : Array("\"} ".utf8)
        closing = (template.count, closingBytes.count)
        template += closingBytes
        template += [UInt8](repeating: 0, count: Self.wordPadding)
        self.template = template
        self.separators = separators
        maximumLineLengthWithoutName = template.count + labels.count * IPAddressText.maximumLength
            + DecimalText.maximumLength + 1 + Self.wordPadding
        cgroupLabelCount = selection.labels.filter(\.isFromCgroup).count
    }

    /// Appends `name{labels} count\n` for each series in `order` whose chosen count is non-zero
    /// (and whose cgroup is not hidden).
    func writeLines(
        name: [UInt8], order: [UInt32], keys: UnsafeBufferPointer<FlowKey>,
        counts: UnsafeBufferPointer<SeriesCounts>, count chosen: Count, cgroups: CgroupLabelText,
        to writer: inout ExpositionWriter
    ) {
        let lineLimit = maximumLineLengthWithoutName + name.count + cgroupLabelCount * cgroups.maximumLength
        let limit = min(keys.count, counts.count)
        let paddedName = name + [UInt8](repeating: 0, count: Self.wordPadding)
        paddedName.withUnsafeBufferPointer { paddedName in
            let name = UnsafeBufferPointer(rebasing: paddedName[..<name.count])
            template.withUnsafeBufferPointer { template in
                separators.withUnsafeBufferPointer { separators in
                    labels.withUnsafeBufferPointer { labels in
                        order.withUnsafeBufferPointer { order in
                            var position = 0
                            while position < order.count {
                                writer.withWritableBytes(maximumBytes: Self.stretch) { output in
                                    var length = 0
                                    while position < order.count, length + lineLimit <= Self.stretch {
                                        let series = Int(order[position])
                                        position += 1
                                        guard series < limit else { continue }
                                        let value = switch chosen {
                                        case .retransmissions: counts[series].retransmissions
                                        case .failures: counts[series].failures
                                        case .segments: counts[series].segments
                                        }
                                        guard value != 0 else { continue }
                                        let key = keys[series]
                                        guard cgroupLabelCount == 0 || !cgroups.isHidden(key.cgroupID) else { continue }
                                        length += writeLine(
                                            name: name, key: key, count: value, labels: labels,
                                            template: template, separators: separators, cgroups: cgroups,
                                            to: output + length)
                                    }
                                    return length
                                }
                                writer.flushIfFull()
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func writeLine(
        name: UnsafeBufferPointer<UInt8>, key: FlowKey, count: UInt64, labels: UnsafeBufferPointer<FlowLabel>,
        template: UnsafeBufferPointer<UInt8>, separators: UnsafeBufferPointer<(start: Int, length: Int)>,
        cgroups: CgroupLabelText, to output: UnsafeMutablePointer<UInt8>
    ) -> Int {
        var length = Self.copyPadded(name, to: output)
        for position in 0..<labels.count {
            let separator = separators[position]
            length += Self.copyPadded(template, start: separator.start, count: separator.length, to: output + length)
            length += Self.writeValue(labels[position], of: key, cgroups: cgroups, to: output + length)
        }
        length += Self.copyPadded(template, start: closing.start, count: closing.length, to: output + length)
        length += DecimalText.write(count, to: output + length)
        output[length] = UInt8(ascii: "\n")
        return length + 1
    }

    @inline(__always)
    private static func writeValue(_ label: FlowLabel, of key: FlowKey, cgroups: CgroupLabelText,
                                   to output: UnsafeMutablePointer<UInt8>) -> Int {
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
        case .kind:
            let name = key.kind.label
            output.update(from: name.utf8Start, count: name.utf8CodeUnitCount)
            return name.utf8CodeUnitCount
        case .networkNamespace:
            guard key.networkNamespace != 0 else { return 0 }
            return DecimalText.write(UInt64(key.networkNamespace), to: output)
        case .cgroup, .podUID, .containerID:
            let text = cgroups.text(label, of: key.cgroupID)
            return text.withUnsafeBufferPointer { copy($0, to: output) }
        }
    }

    /// Copies `bytes`, which are followed by at least `wordPadding` readable bytes, a word at a
    /// time; writes up to `wordPadding - 1` bytes past them.
    @inline(__always)
    private static func copyPadded(_ bytes: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var offset = 0
        while offset < bytes.count {
            let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
            UnsafeMutableRawPointer(output + offset).storeBytes(of: word, as: UInt64.self)
            offset += 8
        }
        return bytes.count
    }

    /// `count` bytes of the template from `start` (the template ends in `wordPadding` zeros).
    @inline(__always)
    private static func copyPadded(_ template: UnsafeBufferPointer<UInt8>, start: Int, count: Int,
                                   to output: UnsafeMutablePointer<UInt8>) -> Int {
        copyPadded(UnsafeBufferPointer(rebasing: template[start..<(start + count)]), to: output)
    }

    @inline(__always)
    private static func copy(_ bytes: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        output.update(from: base, count: bytes.count)
        return bytes.count
    }
}
