import ELFReader

/// A map living in the kernel. Closing the `LoadedObject` it came from closes it
/// (for every holder of this reference); so does dropping the last reference.
public final class LoadedMap: Sendable {
    public let name: String
    /// The spec as created: `maxEntries` resolved, flags as passed, initial value as written.
    public let spec: MapSpec
    public let descriptor: SharedFileDescriptor
    /// The map's fd, -1 once closed.
    public var fd: Int32 { descriptor.rawValue }
    /// Whether the map was created with BTF key/value type ids.
    public let hasBTF: Bool
    /// CPUs a per-CPU map holds a value for, in the order the kernel returns them.
    public let possibleCPUs: CPUList
    let syscalls: Syscalls

    init(name: String, spec: MapSpec, fd: consuming FileDescriptor, hasBTF: Bool, possibleCPUs: CPUList,
         syscalls: Syscalls) {
        self.name = name
        self.spec = spec
        self.descriptor = SharedFileDescriptor(fd)
        self.hasBTF = hasBTF
        self.possibleCPUs = possibleCPUs
        self.syscalls = syscalls
    }

    public var isPerCPU: Bool {
        spec.type == .perCPUArray || spec.type == .perCPUHash || spec.type.rawValue == 10 /* LRU_PERCPU_HASH */
    }

    public func update(key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws {
        try withContext("update map `\(name)`") {
            try checkOpen()
            try checkSize(key, spec.keySize, "key")
            try checkSize(value, isPerCPU ? UInt32(perCPUStride * possibleCPUs.cpus.count) : spec.valueSize, "value")
            try syscalls.updateElement(fd, key: key, value: value, flags: flags)
        }
    }

    /// For 4-byte keys and values, e.g. a perf event fd stored at index `cpu` of a perf event array.
    public func update(index: UInt32, value: UInt32, flags: UInt64 = 0) throws {
        try update(key: Self.littleEndian(index), value: Self.littleEndian(value), flags: flags)
    }

    /// The value at `key`, nil if absent. For per-CPU maps, every CPU's value back to back (see `perCPUValues`).
    public func lookup(key: [UInt8]) throws -> [UInt8]? {
        try withContext("look up in map `\(name)`") {
            try checkOpen()
            try checkSize(key, spec.keySize, "key")
            let size = isPerCPU ? perCPUStride * possibleCPUs.cpus.count : Int(spec.valueSize)
            return try syscalls.lookupElement(fd, key: key, valueSize: size)
        }
    }

    /// A per-CPU map's value for each possible CPU.
    public func perCPUValues(key: [UInt8]) throws -> [(cpu: Int, value: [UInt8])]? {
        guard let all = try lookup(key: key) else { return nil }
        let stride = perCPUStride
        return possibleCPUs.cpus.enumerated().map { index, cpu in
            (cpu, Array(all[(index * stride)..<(index * stride + Int(spec.valueSize))]))
        }
    }

    /// A per-CPU array of `UInt64` counters: each CPU's count at `index`.
    public func perCPUCounters(index: UInt32) throws -> [(cpu: Int, count: UInt64)] {
        guard spec.valueSize == 8 else {
            throw ContextError("read counters from map `\(name)`",
                               MapAccessError(reason: "values are \(spec.valueSize) bytes, not 8"))
        }
        guard let values = try perCPUValues(key: Self.littleEndian(index)) else { return [] }
        return values.map { cpu, bytes in
            (cpu, bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        }
    }

    /// Every key, in the kernel's order.
    public func keys() throws -> [[UInt8]] {
        try withContext("list keys of map `\(name)`") {
            try checkOpen()
            var keys: [[UInt8]] = []
            var key: [UInt8]? = nil
            // Bounded: a map cannot hold more than max_entries keys.
            while keys.count <= Int(spec.maxEntries),
                  let next = try syscalls.nextKey(fd, after: key, keySize: Int(spec.keySize)) {
                keys.append(next)
                key = next
            }
            return keys
        }
    }

    /// Per-CPU values are padded to 8 bytes each.
    private var perCPUStride: Int { (Int(spec.valueSize) + 7) & ~7 }

    /// Closes the map's fd (the kernel frees the map once no program uses it).
    public func close() { descriptor.close() }

    private func checkOpen() throws {
        guard !descriptor.isClosed else { throw MapAccessError(reason: "map `\(name)` is closed") }
    }

    private func checkSize(_ bytes: [UInt8], _ expected: UInt32, _ what: String) throws {
        guard bytes.count == Int(expected) else {
            throw MapAccessError(reason: "\(what) is \(bytes.count) bytes, the map's \(what) size is \(expected)")
        }
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }
}

public struct MapAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
