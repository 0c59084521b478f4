#if canImport(Glibc)
import Glibc
#endif
import ELFReader

/// A file that could not be read, with the errno and the path.
public struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var errno: Int32

    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "cannot read \(path): \(String(cString: strerror(errno)))"
    }
}

/// Whole-file reads for object files, tracefs and procfs (whose files report size 0,
/// so this reads until EOF instead of trusting `st_size`).
public enum SystemFile {
    public static func readBytes(_ path: String, limit: Int = 256 << 20) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        // A size stat knows (the kernel's BTF: 5.5 MB) is reserved at once, so the array never
        // grows by copying; procfs and tracefs report 0, and those files are small.
        var info = stat()
        if fstat(fd, &info) == 0, info.st_size > 0 { bytes.reserveCapacity(min(Int(info.st_size), limit)) }
        // Uninitialised: zeroing 64 KiB per call was most of a small procfs file's read.
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64 * 1024) { chunk throws(FileReadError) in
            while bytes.count < limit {
                let count = read(fd, chunk.baseAddress, chunk.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw FileReadError(path: path, errno: errno)
                }
                if count == 0 { break }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<count]))
            }
        }
        return bytes
    }

    /// The whole file, mapped private and read-only where the file allows it (sysfs's BTF
    /// files, since Linux 6.16: the kernel's own pages, nothing read or copied); else read.
    public static func readMapped(_ path: String, syscalls: Syscalls = .kernel) throws(FileReadError) -> any ByteStorage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0,
              let mapped = try? syscalls.mapFile(fd: fd, length: Int(info.st_size), what: path) else {
            return try readBytes(path)
        }
        // The mapping outlives the descriptor.
        return MappedFile(address: mapped, count: Int(info.st_size), syscalls: syscalls)
    }

    public static func readString(_ path: String) throws(FileReadError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// nil when `path` exists, else the errno of stat(2). stat honours the effective
    /// capabilities (CAP_DAC_READ_SEARCH); access(2) would check the real uid and ignore them.
    public static func statusError(_ path: String) -> Int32? {
        var info = stat()
        return stat(path, &info) == 0 ? nil : errno
    }

    public static func exists(_ path: String) -> Bool {
        statusError(path) == nil
    }

    /// The size stat(2) reports, nil when it fails.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    /// The inode number stat(2) reports, nil when it fails.
    public static func inode(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Whether stat(2) says `path` is a directory (false when it fails).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without `.` and `..`.
    public static func directoryEntries(_ path: String) throws(FileReadError) -> [String] {
        try directoryListing(path).map(\.name)
    }

    /// The entries of a directory, without `.` and `..`, with what readdir(3) says of each:
    /// its inode number and whether it is a directory (nil when the file system does not
    /// say, `DT_UNKNOWN`: ask stat(2) then). One readdir pass, no stat per entry. With
    /// `directoriesOnly`, entries readdir knows are not directories are skipped unread.
    public static func directoryListing(_ path: String, directoriesOnly: Bool = false) throws(FileReadError) -> [DirectoryEntry] {
        guard let directory = opendir(path) else { throw FileReadError(path: path, errno: errno) }
        defer { closedir(directory) }
        var entries: [DirectoryEntry] = []
        while let entry = readdir(directory) {
            let type = Int(entry.pointee.d_type)
            let isDirectory: Bool? = type == Int(DT_UNKNOWN) ? nil : type == Int(DT_DIR)
            if directoriesOnly && isDirectory == false { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != "." && name != ".." else { continue }
            entries.append(DirectoryEntry(name: name, inode: UInt64(entry.pointee.d_ino), isDirectory: isDirectory))
        }
        return entries
    }
}

/// One entry of `SystemFile.directoryListing`.
public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var inode: UInt64
    /// nil when readdir(3) reported `DT_UNKNOWN`.
    public var isDirectory: Bool?

    public init(name: String, inode: UInt64, isDirectory: Bool?) {
        self.name = name
        self.inode = inode
        self.isDirectory = isDirectory
    }
}

/// A read-only private mapping of a whole file, unmapped when the last reference goes.
/// The BTF reader reads the kernel's BTF through it in place (`ByteStorage`): copying the
/// 5.5 MB into an array costs ~1,350 page faults, about 3 ms of every start.
final class MappedFile: ByteStorage, @unchecked Sendable {
    // Sendable: the memory is mapped PROT_READ and never written, and unmapped only in deinit.
    private let address: UnsafeMutableRawPointer
    let count: Int
    private let syscalls: Syscalls

    init(address: UnsafeMutableRawPointer, count: Int, syscalls: Syscalls) {
        self.address = address
        self.count = count
        self.syscalls = syscalls
    }

    func withSpan<Result, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        // Bytes of a file: binding them to UInt8 is always valid.
        let buffer = UnsafeBufferPointer(start: address.bindMemory(to: UInt8.self, capacity: count), count: count)
        return try body(buffer.span)
    }

    deinit { syscalls.unmap(address, length: count) }
}
