/// The kernel's CPU list format (`/sys/devices/system/cpu/online`, `possible`):
/// comma-separated CPU numbers and inclusive ranges, e.g. `0-1`, `0,2-3`, ending in a newline.
public enum CPUList {
    /// The largest CPU number accepted: far above any real machine, so a corrupt
    /// file cannot make us open millions of rings.
    public static let maximumCPU = 1 << 16

    public static func parse(_ text: String) throws(CPUListError) -> [Int] {
        let trimmed = text.trimmingTrailingWhitespace()
        guard !trimmed.isEmpty else { throw CPUListError(text: text, reason: "empty list") }
        var cpus: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  let first = number(bounds[0]), let last = number(bounds[bounds.count - 1]) else {
                throw CPUListError(text: text, reason: "`\(part)` is not a CPU number or range")
            }
            guard first <= last else {
                throw CPUListError(text: text, reason: "range `\(part)` runs backwards")
            }
            guard cpus.last.map({ $0 < first }) ?? true else {
                throw CPUListError(text: text, reason: "`\(part)` is not in increasing order")
            }
            cpus.append(contentsOf: first...last)
        }
        return cpus
    }

    /// CPUs that are online now: one perf ring each.
    public static func online(path: String = "/sys/devices/system/cpu/online") throws(CPUListError) -> [Int] {
        let text: String
        do {
            text = try SystemFile.readString(path)
        } catch {
            throw CPUListError(text: "", reason: "\(error) (is sysfs mounted?)")
        }
        do {
            return try parse(text)
        } catch var error {
            error.reason = "\(path): \(error.reason)"
            throw error
        }
    }

    private static func number(_ digits: Substring) -> Int? {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int(digits), value <= maximumCPU else { return nil }
        return value
    }
}

public struct CPUListError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String {
        text.isEmpty ? "CPU list: \(reason)" : "CPU list \(String(reflecting: text)): \(reason)"
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> Substring {
        var end = endIndex
        while end > startIndex, let last = self[..<end].last, last.isWhitespace {
            end = index(before: end)
        }
        return self[..<end]
    }
}
