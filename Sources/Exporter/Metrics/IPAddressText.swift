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

    /// Writes the text to `output` (room for `maximumLength` bytes) and returns its length.
    @inline(__always)
    static func write(_ address: IPAddress, to output: UnsafeMutablePointer<UInt8>) -> Int {
        address.isIPv4Mapped
            ? writeIPv4(address.ipv4Bits, to: output)
            : writeIPv6(address, to: output)
    }

    static func writeIPv4(_ bits: UInt32, to output: UnsafeMutablePointer<UInt8>) -> Int {
        var count = 0
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 {
                output[count] = UInt8(ascii: ".")
                count += 1
            }
            count += DecimalText.write(UInt64((bits >> UInt32(shift)) & 0xFF), to: output + count)
        }
        return count
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

    @inline(__always)
    static func write(_ value: UInt64, to output: UnsafeMutablePointer<UInt8>) -> Int {
        if value < 10 {
            output[0] = 0x30 &+ UInt8(truncatingIfNeeded: value)
            return 1
        }
        var digits = 0
        var rest = value
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        rest = value
        var position = digits - 1
        while position >= 0 {
            output[position] = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            position -= 1
        }
        return digits
    }
}
