/// The first 128 bits of a `FlowKey` written as one binary string whose order is the key's
/// exposition order: sorting by two integers instead of calling `FlowKey.<` on keys spread over
/// megabytes.
///
/// Each field is written in an encoding that keeps its order and is prefix-free (a fixed width,
/// or a width its own first bit announces), in the order `FlowKey.<` compares them; so two
/// whole strings compare as their keys do, and their first 128 bits compare the same way or
/// tie. Keys whose prefixes tie are compared in full (`FlowSeriesOrder`).
struct FlowOrderPrefix: Sendable, Comparable {
    var high: UInt64
    var low: UInt64

    @inline(__always)
    init(_ key: FlowKey) {
        var bits = BitString()
        let isIPv4 = key.source.isIPv4Mapped
        bits.append(isIPv4 ? 0 : 1, width: 1)
        if isIPv4 {
            // The version says the rest of the address: 32 bits.
            bits.append(UInt64(key.source.ipv4Bits), width: 32)
        } else {
            bits.append(key.source.high, width: 64)
            bits.append(key.source.low, width: 64)
        }
        bits.append(UInt64(key.sourcePort), width: 16)
        // Destinations compare as 128-bit numbers; those below 2^64 (every v4-mapped one) are
        // written in 65 bits so that the port after them still counts.
        if key.destination.high == 0 {
            bits.append(0, width: 1)
        } else {
            bits.append(1, width: 1)
            bits.append(key.destination.high, width: 64)
        }
        bits.append(key.destination.low, width: 64)
        bits.append(UInt64(key.destinationPort), width: 16)
        // The rest rarely reaches the first 128 bits; written anyway so the order is the
        // key's to the last bit that fits. The sign bit flipped: negative states first.
        bits.append(UInt64(UInt32(bitPattern: key.state) ^ 0x8000_0000), width: 32)
        bits.append(UInt64(key.kind.rawValue), width: 8)
        bits.append(UInt64(key.networkNamespace), width: 32)
        bits.append(key.cgroupID, width: 64)
        (high, low) = bits.leftAligned
    }

    static func < (lhs: FlowOrderPrefix, rhs: FlowOrderPrefix) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }
}

/// Up to 128 bits appended most significant first; what does not fit is dropped.
private struct BitString {
    private var high: UInt64 = 0
    private var low: UInt64 = 0
    private var count = 0

    /// Appends the low `width` (1...64) bits of `value`. Inlined: the widths are constants.
    @inline(__always)
    mutating func append(_ value: UInt64, width: Int) {
        guard count < 128 else { return }
        let kept = min(width, 128 - count)
        // The top `kept` of the field's `width` bits (smart shifts: 64 and more give 0).
        let field = (width == 64 ? value : value & ((1 << UInt64(width)) - 1)) >> UInt64(width - kept)
        high = high << UInt64(kept) | low >> UInt64(64 - kept)
        low = low << UInt64(kept) | field
        count += kept
    }

    /// The bits at the top of 128, zeros after them.
    var leftAligned: (UInt64, UInt64) {
        let shift = 128 - count
        if shift >= 64 { return (low << UInt64(shift - 64), 0) }
        return (high << UInt64(shift) | low >> UInt64(64 - shift), low << UInt64(shift))
    }
}
