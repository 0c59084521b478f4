import BPFSyscall
#if canImport(Glibc)
import Glibc
#endif

/// One walk of the cgroup2 hierarchy: every cgroup's id and path at that moment.
struct CgroupScan: Sendable, Equatable {
    /// cgroup id (the directory's inode number) -> path relative to the cgroup2 root,
    /// `/` for the root itself, e.g. `/system.slice/nginx.service`.
    var paths: [UInt64: String] = [:]
    /// Directories that could not be listed for lack of permission (their subtrees are missing).
    var unreadable = 0
    var firstUnreadable: String?
    /// True when the walk stopped at `limit` cgroups.
    var truncated = false
}

/// Walks the cgroup2 mount. Reads only directories: readdir(3) gives each entry's inode
/// number and type, so a cgroup costs one opendir and no stat. cgroupfs directories are
/// world-readable (0755) unless someone chmods them, so this needs no capability and keeps
/// working after the exporter drops them; only `/proc/self/mountinfo` is read first.
struct CgroupTree: Sendable {
    var mount: CgroupMount
    /// Most cgroups a walk records: bounds memory whatever the host does.
    var limit: Int

    static let defaultLimit = 100_000

    init(mount: CgroupMount, limit: Int = defaultLimit) {
        self.mount = mount
        self.limit = limit
    }

    func scan() throws(CgroupScanError) -> CgroupScan {
        guard let rootID = SystemFile.inode(mount.mountPoint) else {
            throw .rootUnreadable(mount.mountPoint, errno: errno)
        }
        var scan = CgroupScan()
        let prefix = mount.pathPrefix
        scan.paths[rootID] = prefix.isEmpty ? "/" : prefix
        // Depth-first with an explicit stack: (directory on disk, its cgroup path).
        var pending: [(directory: String, path: String)] = [(mount.mountPoint, prefix)]
        var isRoot = true
        while let (directory, path) = pending.popLast() {
            let entries: [DirectoryEntry]
            do {
                entries = try SystemFile.directoryListing(directory, directoriesOnly: true)
            } catch {
                if isRoot { throw .rootUnreadable(directory, errno: error.errno) }
                // A cgroup removed since its parent was listed is churn, not a problem.
                if error.errno == EACCES || error.errno == EPERM {
                    scan.unreadable += 1
                    if scan.firstUnreadable == nil { scan.firstUnreadable = path }
                }
                continue
            }
            isRoot = false
            for entry in entries {
                let child = directory + "/" + entry.name
                guard entry.isDirectory ?? SystemFile.isDirectory(child) else { continue }
                guard scan.paths.count < limit else {
                    scan.truncated = true
                    return scan
                }
                let childPath = path + "/" + entry.name
                scan.paths[entry.inode] = childPath
                pending.append((child, childPath))
            }
        }
        return scan
    }
}

enum CgroupScanError: Error, Sendable, Equatable, CustomStringConvertible {
    case rootUnreadable(String, errno: Int32)

    var description: String {
        switch self {
        case .rootUnreadable(let path, let errno):
            "cgroup2 hierarchy: \(FileReadError(path: path, errno: errno).description)"
                + " (the cgroup labels stay empty)"
        }
    }
}
