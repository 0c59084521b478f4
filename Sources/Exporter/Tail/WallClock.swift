#if canImport(Glibc)
import Glibc
#endif

/// Turns the BPF program's CLOCK_BOOTTIME stamps into wall-clock time. The offset is
/// taken once at start; a later change of the system clock shifts printed times, not order.
struct WallClock: Sendable {
    /// Realtime minus boottime, in nanoseconds.
    let offsetNanoseconds: Int64

    init() {
        offsetNanoseconds = Self.now(CLOCK_REALTIME) - Self.now(CLOCK_BOOTTIME)
    }

    func unixNanoseconds(bootTime: UInt64) -> Int64 {
        Int64(clamping: bootTime) &+ offsetNanoseconds
    }

    /// `2026-11-28T17:40:00.123456Z`.
    func iso8601(bootTime: UInt64) -> String {
        format(bootTime: bootTime, utc: true, dateAndZone: true)
    }

    /// `17:40:00.123456`, local time, as tcpretrans prints it.
    func timeOfDay(bootTime: UInt64) -> String {
        format(bootTime: bootTime, utc: false, dateAndZone: false)
    }

    private func format(bootTime: UInt64, utc: Bool, dateAndZone: Bool) -> String {
        let unix = unixNanoseconds(bootTime: bootTime)
        var seconds = time_t(unix / 1_000_000_000)
        let micros = Int((unix % 1_000_000_000) / 1000)
        var parts = tm()
        _ = utc ? gmtime_r(&seconds, &parts) : localtime_r(&seconds, &parts)
        let clock = "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(micros, width: 6))"
        guard dateAndZone else { return clock }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(clock)Z"
    }

    private func pad<T: BinaryInteger>(_ value: T, width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private static func now(_ clock: clockid_t) -> Int64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
