import NIOCore
import Synchronization

/// `rate_limit`: a token bucket over all requests, as exporter-toolkit's (golang.org/x/time/rate):
/// a request every `interval`, `burst` at once; beyond it, 429. An interval of 0 disables it.
struct RateLimitSettings: Sendable, Equatable {
    var intervalNanoseconds: Int64
    var burst: Int

    init(intervalNanoseconds: Int64, burst: Int) {
        self.intervalNanoseconds = intervalNanoseconds
        self.burst = burst
    }

    init(_ node: YAMLNode, path: String) throws(WebConfigurationError) {
        let fields = try WebConfigFields(node, path: path, section: "rate_limit")
        intervalNanoseconds = 0
        burst = 0
        for (key, value) in try fields.entries(allowed: ["interval", "burst"]) {
            guard !value.isNull else { continue }
            if key == "burst" {
                burst = try fields.integer(value, name: "burst")
            } else {
                let text = try fields.string(value, name: "interval")
                guard let nanoseconds = GoDuration.nanoseconds(text) else {
                    throw fields.error(value.line, "interval '\(text)' is not a duration such as 100ms, 1s or 1m30s")
                }
                intervalNanoseconds = nanoseconds
            }
        }
    }
}

/// Go's time.ParseDuration for non-negative durations: `1h2m3.5s`, `250ms`, `0`.
enum GoDuration {
    static func nanoseconds(_ text: String) -> Int64? {
        if text == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9),
                                         ("h", 3600e9)]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !$0.isNumber && $0 != "." }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.1
        }
        guard total < 9.2e18 else { return nil }
        return Int64(total)
    }
}

/// The bucket itself, shared by every connection of one loaded configuration.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: NIODeadline
    }

    private let settings: RateLimitSettings
    private let bucket: Mutex<Bucket>

    init(_ settings: RateLimitSettings) {
        self.settings = settings
        bucket = Mutex(Bucket(tokens: Double(settings.burst), last: .now()))
    }

    /// Takes a token if there is one.
    func allow(now: NIODeadline = .now()) -> Bool {
        bucket.withLock { bucket in
            let elapsed = Double((now - bucket.last).nanoseconds)
            bucket.last = now
            bucket.tokens = min(Double(settings.burst),
                                bucket.tokens + max(0, elapsed) / Double(settings.intervalNanoseconds))
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }
}
