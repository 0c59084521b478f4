/// A kernel CPU list such as `0-1,4,6-7` (sysfs `possible`, `online`), as CPU numbers.
public struct CPUList: Sendable, Equatable, CustomStringConvertible {
    /// Ascending, without duplicates.
    public var cpus: [Int]

    public init(cpus: [Int]) {
        self.cpus = Array(Set(cpus)).sorted()
    }

    /// Parses the kernel's list format; a trailing newline is fine, anything else malformed throws.
    public init(parsing text: String) throws(CPUListError) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw CPUListError(text: text, reason: "empty") }
        // The kernel never prints more than its NR_CPUS; this bound keeps a corrupt range from allocating gigabytes.
        let limit = 1 << 16
        var cpus: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  low >= 0, low <= high, high < limit
            else { throw CPUListError(text: text, reason: "bad range `\(part)`") }
            cpus.append(contentsOf: low...high)
        }
        self.init(cpus: cpus)
    }

    /// The highest CPU number plus one: what a per-CPU map or a perf event array indexed by CPU needs.
    public var slotCount: Int { (cpus.last ?? -1) + 1 }

    public var description: String { cpus.map(String.init).joined(separator: ",") }

    /// CPUs the kernel could ever bring up (`/sys/devices/system/cpu/possible`):
    /// per-CPU maps hold one value for each of them.
    public static func possible() throws -> CPUList {
        try read("/sys/devices/system/cpu/possible")
    }

    /// CPUs running now (`/sys/devices/system/cpu/online`).
    public static func online() throws -> CPUList {
        try read("/sys/devices/system/cpu/online")
    }

    static func read(_ path: String) throws -> CPUList {
        let text = try SystemFile.readString(path)
        do {
            return try CPUList(parsing: text)
        } catch {
            throw CPUListError(text: text, reason: "\(error.reason) in \(path)")
        }
    }
}

public struct CPUListError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "cannot parse CPU list \"\(text.trimmingWhitespace())\": \(reason)" }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
