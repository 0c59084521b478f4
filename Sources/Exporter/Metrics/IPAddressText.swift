/// Address text without inet_ntop or Foundation, written straight into the exposition buffer.
///
/// IPv4 (and v4-mapped IPv6) as dotted decimal; IPv6 in the canonical form of RFC 5952 §4:
/// lowercase hex, no leading zeros, the longest run of two or more zero groups shortened to
/// `::` (the first one when runs tie), a single zero group never shortened.
enum IPAddressText {
    /// `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`.
    static let maximumLength = 39

    private static let hexDigits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                   UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66)

    /// Writes the text to `output` (room for `maximumLength` bytes) and returns its length; the
    /// bytes after the text, up to `maximumLength`, may be overwritten.
    @inline(__always)
    static func write(_ address: IPAddress, to output: UnsafeMutablePointer<UInt8>) -> Int {
        address.isIPv4Mapped
            ? writeIPv4(address.ipv4Bits, to: output)
            : writeIPv6(address, to: output)
    }

    /// Dotted decimal from a table of the 256 octets' text (a first scrape at 100k series spent
    /// a tenth of its instructions dividing octets by ten). Writes one scratch byte after the
    /// text (within `maximumLength`).
    static func writeIPv4(_ bits: UInt32, to output: UnsafeMutablePointer<UInt8>) -> Int {
        octetText.withUnsafeBufferPointer { table in
            var count = writeOctet(bits >> 24, table: table, to: output)
            for shift in stride(from: UInt32(16), through: 0, by: -8) {
                output[count] = UInt8(ascii: ".")
                count += 1 + writeOctet(bits >> shift, table: table, to: output + count + 1)
            }
            return count
        }
    }

    /// "0" to "255": the digits in the low three bytes, first digit lowest, the count in the top
    /// byte; stored as one word, so a `.` or the next field overwrites what is not a digit.
    private static let octetText: [UInt32] = (0...255).map { octet in
        var digits = Array(String(octet).utf8)
        let count = UInt32(digits.count)
        while digits.count < 3 { digits.append(0) }
        return UInt32(digits[0]) | UInt32(digits[1]) << 8 | UInt32(digits[2]) << 16 | count << 24
    }

    @inline(__always)
    private static func writeOctet(_ bits: UInt32, table: UnsafeBufferPointer<UInt32>,
                                   to output: UnsafeMutablePointer<UInt8>) -> Int {
        let entry = table[Int(bits & 0xFF)]
        UnsafeMutableRawPointer(output).storeBytes(of: entry.littleEndian, as: UInt32.self)
        return Int(entry >> 24)
    }

    static func writeIPv6(_ address: IPAddress, to output: UnsafeMutablePointer<UInt8>) -> Int {
        // The longest run of zero groups; `>` keeps the first of equally long runs.
        var bestStart = -1
        var bestLength = 0
        var runStart = 0
        var runLength = 0
        for index in 0..<8 {
            if address.group(index) == 0 {
                if runLength == 0 { runStart = index }
                runLength += 1
                if runLength > bestLength {
                    bestStart = runStart
                    bestLength = runLength
                }
            } else {
                runLength = 0
            }
        }
        if bestLength < 2 { bestStart = -1 }

        var count = 0
        var needsColon = false
        var index = 0
        while index < 8 {
            if index == bestStart {
                output[count] = UInt8(ascii: ":")
                output[count + 1] = UInt8(ascii: ":")
                count += 2
                needsColon = false
                index += bestLength
                continue
            }
            if needsColon {
                output[count] = UInt8(ascii: ":")
                count += 1
            }
            count += writeHexGroup(address.group(index), to: output + count)
            needsColon = true
            index += 1
        }
        return count
    }

    @inline(__always)
    private static func writeHexGroup(_ group: UInt16, to output: UnsafeMutablePointer<UInt8>) -> Int {
        // Digits needed without leading zeros: 1 for 0x0-0xf, up to 4.
        let digits = group == 0 ? 1 : (16 - group.leadingZeroBitCount + 3) / 4
        withUnsafeBytes(of: hexDigits) { table in
            for position in 0..<digits {
                let nibble = Int(group >> UInt16(4 * (digits - 1 - position))) & 0xF
                output[position] = table[nibble]
            }
        }
        return digits
    }
}

/// Unsigned decimal text, written into a caller's buffer.
enum DecimalText {
    /// `18446744073709551615`.
    static let maximumLength = 20

    /// Two digits at a time from a table of "00" to "99", after counting the digits by
    /// comparison: half the divisions of one digit at a time, and no division to count.
    @inline(__always)
    static func write(_ value: UInt64, to output: UnsafeMutablePointer<UInt8>) -> Int {
        if value < 10 {
            output[0] = 0x30 &+ UInt8(truncatingIfNeeded: value)
            return 1
        }
        let digits = digitCount(value)
        return digitPairs.withUnsafeBufferPointer { pairs in
            var rest = value
            var position = digits
            while rest >= 10 {
                let pair = Int(truncatingIfNeeded: rest % 100) &* 2
                rest /= 100
                position -= 2
                output[position] = pairs[pair]
                output[position + 1] = pairs[pair + 1]
            }
            if position == 1 { output[0] = 0x30 &+ UInt8(truncatingIfNeeded: rest) }
            return digits
        }
    }

    /// Digits of `value` in decimal, 1...20.
    @inline(__always)
    static func digitCount(_ value: UInt64) -> Int {
        var count = 1
        var threshold: UInt64 = 10
        // 10^19 is the last power of ten a UInt64 holds.
        while count < maximumLength, value >= threshold {
            count += 1
            threshold &*= 10
        }
        return count
    }

    /// "00", "01", ..., "99", back to back.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { (pair: Int) -> [UInt8] in
        [UInt8(0x30 + pair / 10), UInt8(0x30 + pair % 10)]
    }
}
