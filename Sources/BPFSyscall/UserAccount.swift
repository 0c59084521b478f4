#if canImport(Glibc)
import Glibc
#endif

/// A user from the password database, to switch to after attaching.
public struct UserAccount: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32

    public init(name: String, uid: UInt32, gid: UInt32) {
        self.name = name
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "\(name) (uid \(uid), gid \(gid))" }

    /// Looks `name` up with getpwnam_r (files, LDAP, whatever nsswitch.conf says).
    public static func lookup(_ name: String) throws(UserLookupError) -> UserAccount {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>? = nil
        var bufferSize = 1024
        while true {
            var buffer = [CChar](repeating: 0, count: bufferSize)
            let result = getpwnam_r(name, &entry, &buffer, buffer.count, &found)
            if result == ERANGE, bufferSize < 1 << 20 {
                bufferSize *= 4
                continue
            }
            guard result == 0 else { throw .lookupFailed(name: name, errno: result) }
            guard found != nil else { throw .noSuchUser(name: name) }
            return UserAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
        }
    }
}

public enum UserLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchUser(name: String)
    case lookupFailed(name: String, errno: Int32)

    public var description: String {
        switch self {
        case .noSuchUser(let name):
            return "no user named `\(name)` (getent passwd \(name) finds none): create it, e.g. "
                + "useradd --system --no-create-home --shell /usr/sbin/nologin \(name), or choose another"
        case .lookupFailed(let name, let errno):
            return "looking up user `\(name)` failed: \(Errno.describe(errno))"
        }
    }
}
