/// The kernel refused a program (or BTF) and explained why in its verifier log.
///
/// The description shows the end of the log, where the reason is, and says how
/// many lines it left out; `log` holds all of it (the exporter prints it with `--verbose`).
public struct VerifierError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being loaded, e.g. "program `tcp_retransmit_skb`" or "BTF".
    public var subject: String
    /// The errno of the load that produced the log (EACCES or EINVAL, usually).
    public var errno: Int32
    /// The whole log as the kernel wrote it.
    public var log: String
    /// The log filled even the largest buffer: its beginning is missing.
    public var logTruncated: Bool

    /// Lines of the log the description shows.
    public static let linesShown = 20

    public init(subject: String, errno: Int32, log: String, logTruncated: Bool = false) {
        self.subject = subject
        self.errno = errno
        self.log = log
        self.logTruncated = logTruncated
    }

    /// Every non-empty line of the log.
    public var logLines: [String] {
        log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// The last `linesShown` lines, where the verifier states the reason.
    public var lastLines: [String] { Array(logLines.suffix(Self.linesShown)) }

    public var omittedLineCount: Int { max(0, logLines.count - Self.linesShown) }

    public var description: String {
        var text = "\(subject) rejected by the verifier (\(Errno.describe(errno))):"
        for line in lastLines { text += "\n    " + line }
        if omittedLineCount > 0 {
            text += "\n    (\(omittedLineCount) earlier lines omitted; full log with --verbose)"
        }
        if logTruncated {
            text += "\n    (the log did not fit in its largest buffer: its beginning is lost)"
        }
        return text
    }

    /// The description with the whole log instead of its last lines.
    public var fullDescription: String {
        var text = "\(subject) rejected by the verifier (\(Errno.describe(errno))):"
        for line in logLines { text += "\n    " + line }
        return text
    }
}
