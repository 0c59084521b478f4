import ELFReader

/// A value for a global variable, written before the program is loaded
/// (`const volatile` globals in `.rodata` become constants the verifier sees).
public enum GlobalValue: Sendable, Equatable {
    case u8(UInt8)
    case u16(UInt16)
    case u32(UInt32)
    case u64(UInt64)
    case i32(Int32)
    case i64(Int64)
    case bytes([UInt8])

    /// Little-endian, as BPF (on every architecture this project runs on) stores it.
    public var bytes: [UInt8] {
        switch self {
        case .u8(let value): return [value]
        case .u16(let value): return Self.littleEndian(UInt64(value), count: 2)
        case .u32(let value): return Self.littleEndian(UInt64(value), count: 4)
        case .u64(let value): return Self.littleEndian(value, count: 8)
        case .i32(let value): return Self.littleEndian(UInt64(UInt32(bitPattern: value)), count: 4)
        case .i64(let value): return Self.littleEndian(UInt64(bitPattern: value), count: 8)
        case .bytes(let bytes): return bytes
        }
    }

    private static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Writes caller-chosen values over global variables in the data-section maps'
/// initial bytes. Pure: specs in, specs out.
public enum GlobalConstants {
    public static func apply(_ values: [String: GlobalValue], to maps: [MapSpec]) throws(GlobalConstantError) -> [MapSpec] {
        var maps = maps
        // Sorted so that the first error reported does not depend on dictionary order.
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let (mapIndex, variable) = find(name, in: maps) else {
                throw GlobalConstantError(variable: name, reason: .notFound(
                    dataSections: maps.filter { $0.source == .dataSection }.map(\.name)))
            }
            let bytes = value.bytes
            guard bytes.count == Int(variable.size) else {
                throw GlobalConstantError(variable: name, reason: .sizeMismatch(
                    variableSize: Int(variable.size), valueSize: bytes.count))
            }
            var initial = maps[mapIndex].initialValue
                ?? [UInt8](repeating: 0, count: Int(maps[mapIndex].valueSize))
            let start = Int(variable.offset)
            guard start <= initial.count, bytes.count <= initial.count - start else {
                throw GlobalConstantError(variable: name, reason: .outsideSection(
                    section: maps[mapIndex].name, offset: start, sectionSize: initial.count))
            }
            initial.replaceSubrange(start..<(start + bytes.count), with: bytes)
            maps[mapIndex].initialValue = initial
        }
        return maps
    }

    private static func find(_ name: String, in maps: [MapSpec]) -> (Int, VariableSpec)? {
        for (index, map) in maps.enumerated() where map.source == .dataSection {
            if let variable = map.variables.first(where: { $0.name == name }) { return (index, variable) }
        }
        return nil
    }
}

public struct GlobalConstantError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case notFound(dataSections: [String])
        case sizeMismatch(variableSize: Int, valueSize: Int)
        case outsideSection(section: String, offset: Int, sectionSize: Int)
    }

    public var variable: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case .notFound(let sections):
            let list = sections.isEmpty ? "the object has no data sections" : "looked in " + sections.joined(separator: ", ")
            return "set global `\(variable)`: no such variable (\(list))"
        case .sizeMismatch(let variableSize, let valueSize):
            return "set global `\(variable)`: it is \(variableSize) bytes, the value given is \(valueSize)"
        case .outsideSection(let section, let offset, let size):
            return "set global `\(variable)`: offset \(offset) lies outside \(section) (\(size) bytes)"
        }
    }
}
