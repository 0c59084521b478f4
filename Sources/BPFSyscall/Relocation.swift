import ELFReader

/// Fills map references into a program's instructions: a pure function of
/// (instructions, relocations, map name → fd), so it is tested without a kernel.
///
/// - `.map(name)`: the `ld_imm64` gets `src_reg = BPF_PSEUDO_MAP_FD` and the map's fd in `imm`.
/// - `.mapValue(mapName, offset)`: `src_reg = BPF_PSEUDO_MAP_VALUE`, the data map's fd in `imm`,
///   and `offset` (the variable's byte offset in the section, addend included) in the second slot's `imm`.
/// - `.call`: already linked by the reader; left untouched.
public enum Relocator {
    /// `BPF_LD | BPF_IMM | BPF_DW`: the 16-byte load of a 64-bit immediate.
    public static let loadImm64Opcode: UInt8 = 0x18
    public static let pseudoMapFD: UInt8 = 1
    public static let pseudoMapValue: UInt8 = 2

    public static func apply(_ instructions: [Instruction], relocations: [Relocation],
                             mapFDs: [String: Int32]) throws(RelocationError) -> [Instruction] {
        var patched = instructions
        for relocation in relocations {
            let index = relocation.instructionIndex
            switch relocation.target {
            case .call:
                continue
            case .map(let name):
                try checkLoadImm64(patched, at: index, mapName: name)
                guard let fd = mapFDs[name] else {
                    throw RelocationError(instructionIndex: index, reason: .unknownMap(name))
                }
                patched[index].src = pseudoMapFD
                patched[index].imm = fd
                // The kernel requires the second slot's imm to be 0 for a map fd.
                patched[index + 1].imm = 0
            case .mapValue(let name, let offset):
                try checkLoadImm64(patched, at: index, mapName: name)
                guard let fd = mapFDs[name] else {
                    throw RelocationError(instructionIndex: index, reason: .unknownMap(name))
                }
                patched[index].src = pseudoMapValue
                patched[index].imm = fd
                patched[index + 1].imm = Int32(bitPattern: offset)
            }
        }
        return patched
    }

    private static func checkLoadImm64(_ instructions: [Instruction], at index: Int,
                                       mapName: String) throws(RelocationError) {
        guard index >= 0, index < instructions.count else {
            throw RelocationError(instructionIndex: index, reason: .outOfRange(count: instructions.count))
        }
        guard instructions[index].opcode == loadImm64Opcode else {
            throw RelocationError(instructionIndex: index, reason: .notLoadImm64(opcode: instructions[index].opcode))
        }
        guard index + 1 < instructions.count else {
            throw RelocationError(instructionIndex: index, reason: .missingSecondSlot)
        }
    }
}

/// A relocation that cannot be applied.
public struct RelocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case unknownMap(String)
        case outOfRange(count: Int)
        case notLoadImm64(opcode: UInt8)
        case missingSecondSlot
    }

    public var instructionIndex: Int
    public var reason: Reason

    public init(instructionIndex: Int, reason: Reason) {
        self.instructionIndex = instructionIndex
        self.reason = reason
    }

    public var description: String {
        let prefix = "map relocation at instruction \(instructionIndex)"
        switch reason {
        case .unknownMap(let name):
            return "\(prefix): unknown map `\(name)`"
        case .outOfRange(let count):
            return "\(prefix): past the end of the program (\(count) instructions)"
        case .notLoadImm64(let opcode):
            let hex = String(opcode, radix: 16)
            return "\(prefix): expected a 64-bit immediate load (opcode 0x18), found opcode 0x\(hex)"
        case .missingSecondSlot:
            return "\(prefix): 64-bit immediate load without its second slot"
        }
    }
}
