/// A kernel release such as "6.18.44-fc-v657", compared by major and minor.
struct KernelVersion: Sendable, Equatable, Comparable {
    var major: Int
    var minor: Int

    init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    init?(release: String) {
        let numbers = KernelText.trimmed(release)
            .split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return nil }
        self.init(major: numbers[0], minor: numbers[1])
    }

    static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    var description: String { "\(major).\(minor)" }
}

/// Text read from procfs, sysfs and tracefs: values come with a trailing newline.
enum KernelText {
    /// The text without leading and trailing spaces, tabs and newlines (no Foundation).
    static func trimmed<Text: StringProtocol>(_ text: Text) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let text = Substring(text)
        guard let first = text.firstIndex(where: { !isSpace($0) }),
              let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first...last]
    }
}
