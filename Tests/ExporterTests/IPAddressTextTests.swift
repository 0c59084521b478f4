import Foundation
import KernelTestSupport
import Testing
@testable import Exporter

@Suite struct IPAddressTextTests {
    private func text(_ groups: [UInt16]) -> String {
        let bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        guard let address = IPAddress(bytes: bytes) else { return "<bad fixture>" }
        return address.text
    }

    /// RFC 5952 §4 and its examples, written out as groups (not parsed by our own code).
    @Test(arguments: [
        ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0x0001], "2001:db8::1"),          // §4.1 leading zeros
        ([0x2001, 0x0db8, 0, 0, 0, 0, 2, 1], "2001:db8::2:1"),            // §4.2.1 shorten maximally
        ([0x2001, 0x0db8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"),     // §4.2.2 one 0 stays
        ([0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"),                 // §4.2.3 longest run
        ([0x2001, 0x0db8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"),        // §4.2.3 first on ties
        ([0x2001, 0x0db8, 0, 0, 0, 0, 0xABCD, 0xEF01], "2001:db8::abcd:ef01"), // §4.3 lowercase
        ([0x2001, 0x0db8, 0xaaaa, 0xbbbb, 0xcccc, 0xdddd, 0xeeee, 0x0001], "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"),
        ([0, 0, 0, 0, 0, 0, 0, 0], "::"),
        ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
        ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
        ([0, 0, 1, 0, 0, 0, 0, 0], "0:0:1::"),
        ([0xfe80, 0, 0, 0, 0x0211, 0x22ff, 0xfe33, 0x4455], "fe80::211:22ff:fe33:4455"),
        ([0xfd00, 0x0203, 0, 0, 0, 0, 0, 1], "fd00:203::1"),
        ([0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207], "192.0.2.7"),          // v4-mapped: IPv4 text
        ([0, 0, 0, 0, 0, 0, 0xc000, 0x0207], "::c000:207"),              // v4-compatible: plain hex
        ([0, 0, 0, 0, 0xffff, 0, 0xc000, 0x0207], "::ffff:0:c000:207"),
        ([1, 0, 2, 0, 3, 0, 4, 0], "1:0:2:0:3:0:4:0"),
    ] as [([UInt16], String)])
    func rfc5952(groups: [UInt16], expected: String) {
        #expect(text(groups) == expected)
    }

    @Test(arguments: [
        ([0, 0, 0, 0], "0.0.0.0"), ([255, 255, 255, 255], "255.255.255.255"),
        ([10, 203, 0, 1], "10.203.0.1"), ([127, 0, 0, 1], "127.0.0.1"), ([1, 20, 100, 9], "1.20.100.9"),
    ] as [([UInt8], String)])
    func ipv4(bytes: [UInt8], expected: String) {
        let address = IPAddress(ipv4: bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        #expect(address.text == expected)
        #expect(address.ipVersion == 4)
    }

    /// Random addresses with random zero runs and short groups, checked against python3's
    /// `ipaddress` module (an independent implementation of RFC 5952).
    @Test func agreesWithPythonIPAddressModule() throws {
        guard let python = Command.which("python3") else {
            Issue.record("python3 is not installed: cannot run the independent witness")
            return
        }
        var generator = SeededRandom(seed: 5952)
        var addresses: [[UInt8]] = []
        for _ in 0..<5000 {
            var groups = (0..<8).map { _ -> UInt16 in
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: 0
                case 1: UInt16.random(in: 1...0xF, using: &generator)
                case 2: UInt16.random(in: 0x10...0xFFF, using: &generator)
                default: UInt16.random(in: 0...0xFFFF, using: &generator)
                }
            }
            // A zero run of random length at a random place, sometimes two of equal length.
            let runLength = Int.random(in: 0...8, using: &generator)
            let runStart = Int.random(in: 0...(8 - runLength), using: &generator)
            for index in runStart..<(runStart + runLength) { groups[index] = 0 }
            if Bool.random(using: &generator), runLength <= 3, runStart + 2 * runLength + 1 <= 8 {
                for index in (runStart + runLength + 1)..<(runStart + 2 * runLength + 1) { groups[index] = 0 }
            }
            if Int.random(in: 0..<20, using: &generator) == 0 {
                groups = [0, 0, 0, 0, 0, 0xFFFF, groups[6], groups[7]]   // v4-mapped
            }
            addresses.append(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
        }
        let script = """
            import ipaddress, sys
            for line in sys.stdin:
                a = ipaddress.IPv6Address(bytes.fromhex(line.strip()))
                print(str(a.ipv4_mapped) if a.ipv4_mapped else a.compressed)
            """
        let input = addresses.map { $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n") + "\n"
        let result = try Command.run([python, "-c", script], input: input, check: false)
        #expect(result.status == 0, "python3 failed: \(result.stderr)")
        let expected = result.stdout.split(separator: "\n").map(String.init)
        #expect(expected.count == addresses.count)
        var mismatches = 0
        for (bytes, witness) in zip(addresses, expected) {
            let ours = IPAddress(bytes: bytes)?.text ?? "<nil>"
            if ours != witness {
                mismatches += 1
                if mismatches <= 10 { Issue.record("\(bytes): ours \(ours), python \(witness)") }
            }
        }
        #expect(mismatches == 0)
    }
}
