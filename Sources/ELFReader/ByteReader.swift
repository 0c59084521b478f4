/// A cursor over untrusted bytes that never reads out of bounds.
///
/// Every read checks the remaining length first and throws
/// `ObjectReadError` naming the context (usually a section) and the byte
/// offset. Lengths are compared by subtraction (`count <= bytes.count - position`)
/// so that a huge count read from the file cannot overflow the check.
struct ByteReader {
    let bytes: [UInt8]
    /// Where the bytes came from, for error messages (a section name).
    let context: String
    /// Added to positions in error messages, so errors can report file offsets
    /// for pseudo-sections such as the ELF header.
    let origin: UInt64
    private(set) var position: Int = 0

    init(_ bytes: [UInt8], context: String, origin: UInt64 = 0) {
        self.bytes = bytes
        self.context = context
        self.origin = origin
    }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position >= bytes.count }

    /// An error at `offset` (default: the current position) in this context.
    func error(_ reason: String, at offset: Int? = nil) -> ObjectReadError {
        let at = UInt64(max(0, offset ?? position))
        return ObjectReadError(section: context, offset: origin &+ at, reason: reason)
    }

    /// Moves to `offset`, which may equal the end (an empty remainder).
    mutating func seek(to offset: UInt64) throws(ObjectReadError) {
        guard let target = Int(exactly: offset), target <= bytes.count else {
            throw error("offset \(offset) is past the end (\(bytes.count) bytes)")
        }
        position = target
    }

    mutating func skip(_ count: Int) throws(ObjectReadError) {
        try require(count)
        position += count
    }

    /// Throws unless `count` more bytes are available.
    func require(_ count: Int) throws(ObjectReadError) {
        guard count >= 0, count <= bytes.count - position else {
            throw error("truncated: need \(count) bytes, \(remaining) left")
        }
    }

    mutating func readBytes(_ count: Int) throws(ObjectReadError) -> [UInt8] {
        try require(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func readU8() throws(ObjectReadError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readU16() throws(ObjectReadError) -> UInt16 {
        UInt16(truncatingIfNeeded: try readLittleEndian(2))
    }

    mutating func readU32() throws(ObjectReadError) -> UInt32 {
        // The commonest read (every BTF and BTF.ext field): one load, not four shifts.
        try require(4)
        defer { position += 4 }
        return bytes.span.littleEndianU32(at: position)
    }

    mutating func readU64() throws(ObjectReadError) -> UInt64 {
        try readLittleEndian(8)
    }

    mutating func readI16() throws(ObjectReadError) -> Int16 {
        Int16(bitPattern: try readU16())
    }

    mutating func readI32() throws(ObjectReadError) -> Int32 {
        Int32(bitPattern: try readU32())
    }

    private mutating func readLittleEndian(_ width: Int) throws(ObjectReadError) -> UInt64 {
        try require(width)
        var value: UInt64 = 0
        for index in (0..<width).reversed() {
            value = value << 8 | UInt64(bytes[position + index])
        }
        position += width
        return value
    }
}

/// A NUL-terminated string table (`.strtab`, `.shstrtab`, the BTF string section).
struct StringTable {
    /// Longer than any real name: the kernel refuses BTF names of
    /// KSYM_NAME_LEN (512) bytes or more, and paths stop at PATH_MAX (4096).
    /// Without a bound, thousands of symbols naming one huge string would
    /// each copy it: a 64 KiB file could demand gigabytes.
    static let maximumLength = 4096

    let bytes: [UInt8]
    let context: String

    /// The string starting at `offset`; throws if it starts outside the table,
    /// runs off its end without a NUL, or is longer than `maximumLength`.
    func string(at offset: UInt64) throws(ObjectReadError) -> String {
        guard let start = Int(exactly: offset), start < bytes.count else {
            throw ObjectReadError(section: context, offset: offset,
                                  reason: "string offset \(offset) is outside the string table (\(bytes.count) bytes)")
        }
        let limit = min(bytes.count, start + Self.maximumLength + 1)
        var end = start
        while end < limit && bytes[end] != 0 { end += 1 }
        guard end < bytes.count else {
            throw ObjectReadError(section: context, offset: offset, reason: "string is not NUL-terminated")
        }
        guard end - start <= Self.maximumLength else {
            throw ObjectReadError(section: context, offset: offset,
                                  reason: "string is longer than \(Self.maximumLength) bytes")
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
