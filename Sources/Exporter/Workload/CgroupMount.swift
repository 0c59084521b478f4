import BPFSyscall

/// Where the cgroup v2 hierarchy is mounted, read from `/proc/self/mountinfo`.
///
/// Most current hosts mount it at `/sys/fs/cgroup`; hybrid ones (systemd with v1
/// controllers) at `/sys/fs/cgroup/unified`. A socket's cgroup id (`kernfs_node.id`) is the
/// inode number of the cgroup's directory under this mount.
struct CgroupMount: Sendable, Equatable {
    /// The directory the hierarchy is mounted on, unescaped.
    var mountPoint: String
    /// The cgroup mounted there (mountinfo's fourth field): `/` for the whole hierarchy of
    /// the exporter's cgroup namespace, a cgroup path for a bind mount of a subtree.
    var root: String

    static let mountInfoPath = "/proc/self/mountinfo"

    /// The prefix of every cgroup path under this mount: empty for the whole hierarchy, the
    /// subtree's path for a bind mount of one. A root outside the exporter's cgroup namespace
    /// (`/..`) cannot be named, so paths then start at the mount.
    var pathPrefix: String {
        guard root != "/", root.hasPrefix("/"), !root.split(separator: "/").contains("..") else { return "" }
        return root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// Reads `/proc/self/mountinfo` (or `path`) and finds the cgroup2 mount.
    static func find(mountInfoPath path: String = mountInfoPath) throws(CgroupMountError) -> CgroupMount {
        let text: String
        do {
            text = try SystemFile.readString(path)
        } catch {
            throw .unreadable(error.description)
        }
        return try find(inMountInfo: text, path: path)
    }

    /// How far above the exporter's cgroup namespace root the mount starts: 0 for `/`, 3 for
    /// `/../../..` (the host's hierarchy bind-mounted into a container with its own cgroup
    /// namespace), -1 for a subtree `/kubepods.slice`. The BPF program's ids are global, so
    /// the mount that shows the most of the hierarchy is the one to walk.
    var height: Int {
        root.split(separator: "/").reduce(0) { $0 + ($1 == ".." ? 1 : -1) }
    }

    /// The cgroup2 mount that shows the most of the hierarchy (see `height`), the first of
    /// equals: on a host its only one; in a Kubernetes pod with the host's `/sys/fs/cgroup`
    /// mounted too, that one rather than the pod's own view.
    static func find(inMountInfo text: String, path: String = mountInfoPath) throws(CgroupMountError) -> CgroupMount {
        var mounts: [CgroupMount] = []
        var malformed = 0
        // Split as bytes: Character by Character, a host's ~40 lines took 1.6 M instructions of start-up.
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            guard let entry = MountInfoLine(Substring(line)) else {
                malformed += 1
                continue
            }
            if entry.fileSystemType == "cgroup2" {
                mounts.append(CgroupMount(mountPoint: entry.mountPoint, root: entry.root))
            }
        }
        let highest = mounts.map(\.height).max()
        guard let chosen = mounts.first(where: { $0.height == highest }) else {
            throw .notMounted(path: path, malformedLines: malformed)
        }
        return chosen
    }
}

/// One line of mountinfo (proc(5)): `ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS
/// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`. The kernel escapes space, tab, newline and
/// backslash in paths as three octal digits (`\040`).
struct MountInfoLine: Sendable, Equatable {
    var root: String
    var mountPoint: String
    var fileSystemType: String

    init?(_ line: Substring) {
        let fields = line.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        // The optional fields end at a lone "-"; at least six fields come before it.
        guard let separator = fields.firstIndex(where: { $0.elementsEqual("-".utf8) }), separator >= 6,
              separator + 1 < fields.count,
              let root = Self.unescape(fields[3]), let mountPoint = Self.unescape(fields[4])
        else { return nil }
        self.root = root
        self.mountPoint = mountPoint
        self.fileSystemType = String(decoding: fields[separator + 1], as: UTF8.self)
    }

    /// Undoes the kernel's `\ooo` escapes; nil for a backslash not followed by three octal digits.
    static func unescape(_ field: Substring) -> String? {
        unescape(field.utf8)
    }

    static func unescape(_ field: Substring.UTF8View) -> String? {
        let bytes = Array(field)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\") else {
                result.append(bytes[index])
                index += 1
                continue
            }
            guard index + 3 < bytes.count else { return nil }
            var value = 0
            for digit in bytes[(index + 1)...(index + 3)] {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
                value = value * 8 + Int(digit - UInt8(ascii: "0"))
            }
            guard let byte = UInt8(exactly: value) else { return nil }
            result.append(byte)
            index += 4
        }
        return String(decoding: result, as: UTF8.self)
    }
}

enum CgroupMountError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notMounted(path: String, malformedLines: Int)

    var description: String {
        switch self {
        case .unreadable(let reason):
            "cgroup2 mount: \(reason)"
        case .notMounted(let path, let malformed):
            "cgroup2 mount: no cgroup2 file system in \(path)"
                + (malformed > 0 ? " (\(malformed) lines could not be parsed)" : "")
                + "; mount one (mount -t cgroup2 none /sys/fs/cgroup) or the cgroup labels stay empty"
        }
    }
}
