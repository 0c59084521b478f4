import BPFSyscall

/// The credential lines of a `/proc/<pid>/task/<tid>/status` file.
struct ThreadCredentials: Equatable {
    /// Real, effective, saved and filesystem ids.
    var uids: [UInt32] = []
    var gids: [UInt32] = []
    var groups: [UInt32] = []
    var capabilities: [String: UInt64] = [:]
    var noNewPrivileges: Bool?

    /// Reads the bytes, not Characters: this runs for every thread at start-up, and splitting
    /// ~1.4 KB per thread into Substrings cost 5 M instructions while the first scrape waited.
    init(status: String) {
        for line in status.utf8.split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = String(decoding: line[..<colon], as: UTF8.self)
            // The fields after the key, split on tabs and spaces; made only for the keys read.
            var values: [String] {
                line[line.index(after: colon)...]
                    .split(whereSeparator: { $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: " ") })
                    .map { String(decoding: $0, as: UTF8.self) }
            }
            switch key {
            case "Uid": uids = values.compactMap { UInt32($0) }
            case "Gid": gids = values.compactMap { UInt32($0) }
            case "Groups": groups = values.compactMap { UInt32($0) }
            case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
                if let value = values.first.flatMap({ UInt64($0, radix: 16) }) { capabilities[key] = value }
            case "NoNewPrivs": noNewPrivileges = values.first == "1"
            default: break
            }
        }
    }

    /// What is left that the drop should have removed, or nil.
    func problem(after drop: Privileges.Outcome) -> String? {
        var sets = ["CapInh", "CapPrm", "CapEff", "CapAmb"]
        if drop.boundingSetDropped { sets.append("CapBnd") }
        for set in sets {
            guard let value = capabilities[set] else { return "\(set) missing from its status" }
            if value != 0 { return "\(set) = \(String(value, radix: 16))" }
        }
        if noNewPrivileges != true { return "NoNewPrivs not set" }
        if let user = drop.user {
            if uids.count != 4 || uids.contains(where: { $0 != user.uid }) { return "Uid \(uids), expected \(user.uid)" }
            if gids.count != 4 || gids.contains(where: { $0 != user.gid }) { return "Gid \(gids), expected \(user.gid)" }
            if !groups.isEmpty { return "supplementary groups \(groups) remain" }
        }
        return nil
    }
}
