#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    public static func readString(_ path: String) throws(FileReadError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}
