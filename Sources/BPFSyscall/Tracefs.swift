#if canImport(Glibc)
import Glibc
#endif

/// Where the kernel's tracing filesystem is mounted, and what it says about tracepoints.
public struct Tracefs: Sendable, Equatable {
    /// The mount point, e.g. `/sys/kernel/tracing`.
    public var root: String

    /// Looked at in this order; the first is where tracefs gets mounted when neither has `events`.
    public static let defaultCandidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    public init(root: String) {
        self.root = root
    }

    /// Finds a mounted tracefs (one with an `events` directory). When none is found,
    /// mounts tracefs on the first candidate (needs CAP_SYS_ADMIN) and uses it.
    /// The one discovery of tracefs: `run`, `tail` and `check` all come here.
    public static func locate(candidates: [String] = defaultCandidates, mountIfMissing: Bool = true,
                              syscalls: Syscalls = .kernel) throws(TracefsError) -> Tracefs {
        for candidate in candidates {
            switch SystemFile.statusError(candidate + "/events") {
            case nil: return Tracefs(root: candidate)
            // Mounted, but mode 700 and no CAP_DAC_READ_SEARCH: say so, rather than "not mounted".
            case EACCES?: throw TracefsError.permissionDenied(path: candidate)
            default: continue
            }
        }
        guard mountIfMissing, let target = candidates.first else {
            throw TracefsError.notMounted(tried: candidates, mountFailure: nil)
        }
        do {
            try syscalls.mountFilesystem(source: "nodev", target: target, type: "tracefs")
        } catch {
            throw TracefsError.notMounted(tried: candidates, mountFailure: error)
        }
        guard SystemFile.exists(target + "/events") else {
            throw TracefsError.notMounted(tried: candidates, mountFailure: nil)
        }
        return Tracefs(root: target)
    }

    public func eventDirectory(category: String, name: String) -> String {
        "\(root)/events/\(category)/\(name)"
    }

    /// The tracepoint's id, which `perf_event_open` takes as its config.
    public func tracepointID(category: String, name: String) throws(TracefsError) -> UInt64 {
        let path = eventDirectory(category: category, name: name) + "/id"
        let text = try read(path, category: category, name: name)
        guard let id = UInt64(text.trimmingWhitespace()) else {
            throw TracefsError.malformed(path: path, reason: "not a number: \(text.trimmingWhitespace())")
        }
        return id
    }

    /// The tracepoint's record layout.
    public func format(category: String, name: String) throws(TracefsError) -> TracepointFormat {
        let path = eventDirectory(category: category, name: name) + "/format"
        let text = try read(path, category: category, name: name)
        do {
            return try TracepointFormat(parsing: text)
        } catch {
            throw TracefsError.malformed(path: path, reason: error.description)
        }
    }

    private func read(_ path: String, category: String, name: String) throws(TracefsError) -> String {
        do {
            return try SystemFile.readString(path)
        } catch where error.errno == ENOENT {
            throw TracefsError.noSuchTracepoint(category: category, name: name, tracefs: root)
        } catch {
            throw TracefsError.unreadable(error)
        }
    }
}

public enum TracefsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No candidate had `events`; `mountFailure` says why mounting did not help, if it was tried.
    case notMounted(tried: [String], mountFailure: SyscallError?)
    case noSuchTracepoint(category: String, name: String, tracefs: String)
    /// The mount point is there but we may not look inside (tracefs is mode 700).
    case permissionDenied(path: String)
    case unreadable(FileReadError)
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notMounted(let tried, let mountFailure):
            var text = "tracefs not found (looked for events/ in \(tried.joined(separator: ", ")))"
            if let mountFailure { text += "; mounting it failed: \(mountFailure)" }
            return text + ": tracefs not mounted or kernel lacks the tcp tracepoints"
                + " (mount -t tracefs nodev /sys/kernel/tracing)"
        case .noSuchTracepoint(let category, let name, let tracefs):
            return "tracepoint \(category)/\(name) not found in \(tracefs)/events"
                + ": tracefs not mounted or kernel lacks the tracepoint (see \(tracefs)/available_events)"
        case .permissionDenied(let path):
            return "cannot read tracefs at \(path): permission denied (tracefs is mode 0700: run as root,"
                + " or grant CAP_DAC_READ_SEARCH besides CAP_BPF and CAP_PERFMON)"
        case .unreadable(let error):
            return "\(error)" + (error.errno == EACCES || error.errno == EPERM
                ? " (reading tracefs needs root)" : "")
        case .malformed(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}
