import CWebSupport
import Synchronization

/// A bcrypt hash as `basic_auth_users` holds it: `$2y$`, `$2b$` or `$2a$`, a two-digit cost
/// of 04 to 31, then 53 characters of salt and hash in bcrypt's base-64 alphabet.
struct BcryptHash: Sendable, Equatable {
    let text: String

    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]),
              bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$"),
              let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost),
              bytes[7...].allSatisfy(Self.isBase64)
        else { return nil }
        self.text = text
    }

    var cost: Int { Int(String(decoding: Array(text.utf8)[4..<6], as: UTF8.self)) ?? 0 }

    private static func isBase64(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): true
        default: false
        }
    }

    /// Whether `password` hashes to this hash (libxcrypt's crypt_rn, then a constant-time
    /// comparison). Takes the hash's cost in time: about 50 ms at cost 10.
    func verify(_ password: [UInt8]) -> Bool {
        var output = [CChar](repeating: 0, count: Int(CWEB_CRYPT_OUTPUT_SIZE))
        let status = password.withUnsafeBufferPointer { passwordBuffer -> Int32 in
            // crypt wants a NUL-terminated password; a NUL inside it would cut it short.
            guard !passwordBuffer.contains(0) else { return -1 }
            var terminated = Array(passwordBuffer)
            terminated.append(0)
            defer { for index in terminated.indices { terminated[index] = 0 } }
            return terminated.withUnsafeBufferPointer { terminatedBuffer in
                terminatedBuffer.withMemoryRebound(to: CChar.self) { passwordC in
                    cweb_crypt(passwordC.baseAddress, text, &output, output.count)
                }
            }
        }
        guard status == 0 else { return false }
        let computed = output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return ConstantTime.equal(computed, Array(text.utf8))
    }
}

enum ConstantTime {
    /// Compares in time that depends on the lengths only, not on where the bytes differ.
    static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        difference |= lhs.count == rhs.count ? 0 : 1
        let count = min(lhs.count, rhs.count)
        for index in 0..<count { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// Checks `Authorization: Basic` credentials against `basic_auth_users`.
///
/// Every check hashes: an unknown user is checked against another user's hash, so the time
/// does not tell which users exist. Accepted credentials are remembered (bounded, like
/// exporter-toolkit's cache) so that a scrape every few seconds does not cost a bcrypt each;
/// refusals are never remembered.
final class BasicAuthVerifier: Sendable {
    struct Credentials: Sendable, Equatable {
        var user: String
        var password: [UInt8]
    }

    private let users: [String: BcryptHash]
    private let decoy: BcryptHash?
    private let accepted = Mutex<[(user: String, password: [UInt8])]>([])
    static let cacheSize = 64

    init(users: [String: BcryptHash]) {
        self.users = users
        // The most expensive hash: an unknown user never answers faster than a known one.
        decoy = users.values.max { $0.cost < $1.cost }
    }

    var isEnabled: Bool { !users.isEmpty }

    /// The user and password of an `Authorization` header value, nil unless `Basic` with
    /// valid base 64 holding a colon.
    static func credentials(fromHeader value: String) -> Credentials? {
        let trimmed = value.drop { $0 == " " }
        guard trimmed.count > 6, trimmed.prefix(6).lowercased() == "basic " else { return nil }
        let encoded = trimmed.dropFirst(6).drop { $0 == " " }.prefix { $0 != " " }
        guard let decoded = Base64.decode(Array(encoded.utf8)),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        return Credentials(user: String(decoding: decoded[..<colon], as: UTF8.self),
                           password: Array(decoded[(colon + 1)...]))
    }

    /// Blocks for the hash's cost (run it off the event loop).
    func verify(_ credentials: Credentials?) -> Bool {
        guard let decoy else { return true }
        guard let credentials else { return false }
        let known = accepted.withLock { cache in
            // Every entry compared, in constant time each.
            var found = false
            for entry in cache where ConstantTime.equal(Array(entry.user.utf8), Array(credentials.user.utf8)) {
                found = ConstantTime.equal(entry.password, credentials.password) || found
            }
            return found
        }
        if known { return true }
        let hash = users[credentials.user]
        let matches = (hash ?? decoy).verify(credentials.password)
        guard matches, hash != nil else { return false }
        accepted.withLock { cache in
            if cache.count >= Self.cacheSize { cache.removeFirst() }
            cache.append((credentials.user, credentials.password))
        }
        return true
    }
}

/// Standard base 64 (RFC 4648 §4) with padding, as `Authorization: Basic` uses.
enum Base64 {
    static func decode(_ input: [UInt8]) -> [UInt8]? {
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            var values: [UInt8] = []
            var padding = 0
            for offset in 0..<4 {
                let byte = input[index + offset]
                if byte == UInt8(ascii: "=") {
                    // Padding only at the very end, at most two.
                    guard index + 4 == input.count, offset >= 2 else { return nil }
                    padding += 1
                    values.append(0)
                    continue
                }
                guard padding == 0, let value = sextet(byte) else { return nil }
                values.append(value)
            }
            let bits = UInt32(values[0]) << 18 | UInt32(values[1]) << 12 | UInt32(values[2]) << 6 | UInt32(values[3])
            output.append(UInt8(truncatingIfNeeded: bits >> 16))
            if padding < 2 { output.append(UInt8(truncatingIfNeeded: bits >> 8)) }
            if padding < 1 { output.append(UInt8(truncatingIfNeeded: bits)) }
            index += 4
        }
        return output
    }

    private static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
