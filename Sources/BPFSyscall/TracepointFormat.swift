/// A tracepoint's `format` file: the record layout the kernel hands a BPF
/// program as its context. Lets the loader decide, per kernel, what the
/// program may read (e.g. whether `tcp_retransmit_skb` has `err`).
public struct TracepointFormat: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        /// e.g. `saddr_v6` (array brackets removed).
        public var name: String
        /// The C declaration as printed, e.g. `__u8 saddr_v6[16]`.
        public var declaration: String
        public var offset: Int
        public var size: Int
        public var isSigned: Bool
    }

    public var name: String
    public var id: UInt64?
    public var fields: [Field]

    public func field(named name: String) -> Field? { fields.first { $0.name == name } }
    public func hasField(_ name: String) -> Bool { field(named: name) != nil }

    /// Parses the text of a `format` file. Lines it does not recognise are skipped;
    /// a `field:` line without offset and size is an error.
    public init(parsing text: String) throws(TracepointFormatError) {
        var name = ""
        var id: UInt64?
        var fields: [Field] = []
        for (lineIndex, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(rawLine).trimmingWhitespace()
            if line.hasPrefix("name:") {
                name = String(line.dropFirst("name:".count)).trimmingWhitespace()
            } else if line.hasPrefix("ID:") {
                id = UInt64(String(line.dropFirst("ID:".count)).trimmingWhitespace())
            } else if line.hasPrefix("field:") {
                fields.append(try Self.parseField(line, lineNumber: lineIndex + 1))
            }
        }
        guard !fields.isEmpty else { throw TracepointFormatError(line: 0, reason: "no fields") }
        self.name = name
        self.id = id
        self.fields = fields
    }

    /// `field:__u8 saddr_v6[16];	offset:42;	size:16;	signed:0;`
    private static func parseField(_ line: String, lineNumber: Int) throws(TracepointFormatError) -> Field {
        var declaration: String?
        var offset: Int?
        var size: Int?
        var isSigned = false
        for part in line.split(separator: ";") {
            let item = String(part).trimmingWhitespace()
            guard let colon = item.firstIndex(of: ":") else { continue }
            let key = item[..<colon]
            let value = String(item[item.index(after: colon)...]).trimmingWhitespace()
            switch key {
            case "field": declaration = value
            case "offset": offset = Int(value)
            case "size": size = Int(value)
            case "signed": isSigned = value == "1"
            default: continue
            }
        }
        guard let declaration, let offset, let size, offset >= 0, size >= 0 else {
            throw TracepointFormatError(line: lineNumber, reason: "field line without declaration, offset or size: \(line)")
        }
        // The name is the declaration's last identifier: `const void * skbaddr`, `__u8 saddr[4]`.
        var base = Substring(declaration)
        if let bracket = base.firstIndex(of: "[") { base = base[..<bracket] }
        let name = base.split(whereSeparator: { $0 == " " || $0 == "*" || $0 == "\t" }).last.map(String.init) ?? ""
        guard !name.isEmpty else {
            throw TracepointFormatError(line: lineNumber, reason: "field without a name: \(line)")
        }
        return Field(name: name, declaration: declaration, offset: offset, size: size, isSigned: isSigned)
    }
}

public struct TracepointFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var reason: String
    public var description: String { "tracepoint format, line \(line): \(reason)" }
}
