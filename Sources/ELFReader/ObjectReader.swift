/// Reads a clang-compiled BPF object: bytes in, `ObjectSpec` out.
/// Pure: no file or kernel access, so it runs (and is tested) anywhere.
public enum ObjectReader {
    public static func read(_ bytes: [UInt8]) throws(ObjectReadError) -> ObjectSpec {
        throw ObjectReadError(section: nil, offset: 0, reason: "not implemented yet")
    }
}

/// A malformed or unsupported object. The message names the section and byte offset.
public struct ObjectReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var section: String?
    public var offset: UInt64
    public var reason: String

    public init(section: String?, offset: UInt64, reason: String) {
        self.section = section
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        if let section { return "\(section) at offset \(offset): \(reason)" }
        return "at offset \(offset): \(reason)"
    }
}
