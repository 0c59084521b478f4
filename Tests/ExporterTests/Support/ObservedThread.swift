import Foundation

/// One thread's credentials from /proc/PID/task/TID/status, read by the test itself.
struct ObservedThread: CustomStringConvertible {
    var id: String
    var name: String
    var fields: [String: String]

    /// Every thread of process `pid`.
    static func all(of pid: Int32) throws -> [ObservedThread] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").sorted()
        return try tasks.map { task in
            let status = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)
            var fields: [String: String] = [:]
            for line in status.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return ObservedThread(id: task, name: fields["Name"] ?? "?", fields: fields)
        }
    }

    /// A capability set's mask (`CapEff`, `CapPrm`, ...), nil if absent or not hexadecimal.
    func mask(_ field: String) -> UInt64? { fields[field].flatMap { UInt64($0, radix: 16) } }

    /// The four ids of a `Uid:`/`Gid:` line.
    func ids(_ field: String) -> [String] {
        (fields[field] ?? "").split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
    }

    var description: String {
        let keys = ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"]
        return "thread \(id) (\(name)): " + keys.map { "\($0)=\(fields[$0] ?? "-")" }.joined(separator: " ")
    }
}
