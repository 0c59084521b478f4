import Foundation

/// `bpftool ... -j`, parsed: an independent witness of what the kernel holds.
public enum Bpftool {
    /// `bpftool prog show -j`: one dictionary per loaded program (`id`, `type`, `name`, `run_cnt`, ...).
    public static func programs() throws -> [[String: Any]] { try list(["prog", "show"]) }

    /// `bpftool link show -j`: one dictionary per link (`id`, `type`, `prog_id`, ...).
    public static func links() throws -> [[String: Any]] { try list(["link", "show"]) }

    /// `bpftool perf show -j`: programs attached to perf events by any process
    /// (`pid`, `fd`, `prog_id`, `fd_type`, `tracepoint`), including the ioctl attach that has no link.
    public static func perfAttachments() throws -> [[String: Any]] { try list(["perf", "show"]) }

    /// `bpftool map show -j`.
    public static func maps() throws -> [[String: Any]] { try list(["map", "show"]) }

    static func list(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try Command.run(["bpftool"] + arguments + ["-j"])
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [] }
        guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw CommandError.failed(result)
        }
        return array
    }
}

extension Dictionary where Key == String, Value == Any {
    /// A JSON number field as Int (bpftool prints ids and counts as numbers).
    public func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    public func string(_ key: String) -> String? { self[key] as? String }
}
