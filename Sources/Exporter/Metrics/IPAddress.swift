/// A 16-byte IPv6 address (IPv4 held v4-mapped, `::ffff:a.b.c.d`), as two big-endian halves.
///
/// Integer halves make flow keys cheap to hash and compare, and sort addresses numerically.
struct IPAddress: Sendable, Hashable, Comparable {
    /// Bytes 0-7, most significant first.
    var high: UInt64
    /// Bytes 8-15, most significant first.
    var low: UInt64

    static let zero = IPAddress(high: 0, low: 0)
    private static let ipv4MappedPrefix: UInt64 = 0x0000_FFFF_0000_0000

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// `a.b.c.d` as `::ffff:a.b.c.d`; `bits` holds `a` in its top byte.
    init(ipv4 bits: UInt32) {
        self.init(high: 0, low: Self.ipv4MappedPrefix | UInt64(bits))
    }

    /// Reads 16 bytes in network order (as the kernel stores `in6_addr`).
    @inline(__always)
    init(networkOrderBytesAt offset: Int, of raw: UnsafeRawBufferPointer) {
        self.init(
            high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    /// From 16 bytes in network order; nil unless exactly 16.
    init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(bytes[index])
            low = low << 8 | UInt64(bytes[index + 8])
        }
        self.init(high: high, low: low)
    }

    /// `::ffff:0:0/96`: an IPv4 socket's address, reported as IPv4.
    var isIPv4Mapped: Bool {
        high == 0 && low & 0xFFFF_FFFF_0000_0000 == Self.ipv4MappedPrefix
    }

    /// The low 32 bits: the IPv4 address when `isIPv4Mapped`.
    var ipv4Bits: UInt32 { UInt32(truncatingIfNeeded: low) }

    /// 4 for IPv4 and v4-mapped IPv6, else 6.
    var ipVersion: Int { isIPv4Mapped ? 4 : 6 }

    /// 16-bit group `index` (0...7) of the IPv6 form.
    @inline(__always)
    func group(_ index: Int) -> UInt16 {
        let half = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index & 3)))
    }

    static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }

    /// IPv4 dotted text for v4-mapped addresses, RFC 5952 text otherwise.
    var text: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: IPAddressText.maximumLength) { buffer in
            guard let base = buffer.baseAddress else { return "" }
            let count = IPAddressText.write(self, to: base)
            return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
        }
    }
}
