/// Turns instructions into text in the C-like syntax llvm-objdump uses for
/// BPF (`r1 = *(u32 *)(r6 + 24)`, `if r1 == 0 goto +1`, `r2 = 0 ll`).
///
/// The opcode byte packs three fields (`include/uapi/linux/bpf_common.h`):
///
///     class  = opcode & 0x07   LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64
///     ALU/JMP:   op = opcode & 0xf0, source = opcode & 0x08 (register or imm)
///     LD/ST:   mode = opcode & 0xe0, size = opcode & 0x18 (u32, u16, u8, u64)
///
/// `format` never traps: an opcode it does not know prints as `invalid`.
public enum Disassembler {
    /// What the caller knows about an instruction's operands, to show names
    /// where llvm-objdump shows raw numbers. All optional.
    public struct Annotations: Sendable, Equatable {
        /// The relocation on this instruction (map, global data, bpf-to-bpf call).
        public var relocation: RelocationTarget?
        /// Name helper calls (`call bpf_map_lookup_elem#1`).
        public var namesHelpers: Bool
        /// Label for a jump or call target (`goto +1 <LBB0_2>`).
        public var targetLabel: String?
        /// Name of the global variable an ld_imm64 of global data points at.
        public var variableName: String?

        public init(relocation: RelocationTarget? = nil, namesHelpers: Bool = true,
                    targetLabel: String? = nil, variableName: String? = nil) {
            self.relocation = relocation
            self.namesHelpers = namesHelpers
            self.targetLabel = targetLabel
            self.variableName = variableName
        }

        /// Exactly llvm-objdump's text (without its `<label>` suffixes).
        public static let none = Annotations(namesHelpers: false)
    }

    /// The text of `instruction`. For an ld_imm64, `next` is its second slot.
    public static func format(_ instruction: Instruction, next: Instruction? = nil,
                              annotations: Annotations = .none) -> String {
        let code = instruction.opcode
        switch code & 0x07 {
        case 0x00: return formatLoad(instruction, next: next, annotations: annotations)
        case 0x01: return formatLoadFromMemory(instruction)
        case 0x02, 0x03: return formatStore(instruction)
        case 0x04: return formatArithmetic(instruction, wide: false)
        case 0x07: return formatArithmetic(instruction, wide: true)
        default: return formatJump(instruction, wide: code & 0x07 == 0x05, annotations: annotations)
        }
    }

    /// How many slots the instruction takes: 2 for an ld_imm64, else 1.
    public static func slotCount(_ instruction: Instruction) -> Int { instruction.isLoadImmediate64 ? 2 : 1 }

    // MARK: - Pieces

    static func register(_ number: UInt8, wide: Bool) -> String { (wide ? "r" : "w") + String(number) }

    static func sizeName(_ code: UInt8, signed: Bool = false) -> String {
        let prefix = signed ? "s" : "u"
        switch code & 0x18 {
        case 0x00: return prefix + "32"
        case 0x08: return prefix + "16"
        case 0x10: return prefix + "8"
        default: return prefix + "64"
        }
    }

    /// `r6 + 24`, `r10 - 16`, `r1 + 0`, as llvm-objdump prints memory operands.
    static func address(_ base: UInt8, _ offset: Int16) -> String {
        offset < 0 ? "r\(base) - \(-Int(offset))" : "r\(base) + \(offset)"
    }

    /// `+1`, `-3`: jump distances always carry a sign.
    static func signed(_ value: Int) -> String { value < 0 ? String(value) : "+" + String(value) }

    private static func invalid(_ instruction: Instruction) -> String {
        "invalid opcode 0x" + hex2(instruction.opcode)
    }

    static func hex2(_ byte: UInt8) -> String {
        let digits: StaticString = "0123456789abcdef"
        return digits.withUTF8Buffer { digits in
            String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]], as: UTF8.self)
        }
    }

    // MARK: - Classes

    /// Class LD: the 16-byte ld_imm64 (and legacy packet loads).
    private static func formatLoad(_ instruction: Instruction, next: Instruction?, annotations: Annotations) -> String {
        let code = instruction.opcode
        let dst = register(instruction.dst, wide: true)
        switch code & 0xe0 {
        case 0x00 where code == BPFOpcode.loadImmediate64:
            guard let next else { return "\(dst) = <ld_imm64 missing its second slot>" }
            switch annotations.relocation {
            case .map(let name)?:
                return "\(dst) = map[\(name)] ll"
            case .mapValue(let mapName, let offset)?:
                let variable = annotations.variableName.map { "  ; &\($0)" } ?? ""
                return "\(dst) = map_value[\(mapName)] + \(offset) ll\(variable)"
            default:
                break
            }
            // src_reg says how the kernel reads imm (after a loader has patched it).
            switch instruction.src {
            case 1: return "\(dst) = map_fd(\(instruction.imm)) ll"
            case 2: return "\(dst) = map_value(fd \(instruction.imm)) + \(next.imm) ll"
            case 3: return "\(dst) = btf_var(\(instruction.imm)) ll"
            case 4: return "\(dst) = func(\(signed(Int(instruction.imm)))) ll"
            default:
                // Printed signed, as llvm-objdump does (`r1 = -1 ll`).
                let value = Int64(bitPattern: UInt64(UInt32(bitPattern: next.imm)) << 32 | UInt64(UInt32(bitPattern: instruction.imm)))
                return "\(dst) = \(value) ll"
            }
        case 0x20:  // BPF_ABS: packet load at a constant offset (socket filters)
            return "r0 = *(\(sizeName(code)) *)skb[\(instruction.imm)]"
        case 0x40:  // BPF_IND: packet load at register + constant
            let index = instruction.imm == 0 ? "r\(instruction.src)" : "r\(instruction.src) + \(instruction.imm)"
            return "r0 = *(\(sizeName(code)) *)skb[\(index)]"
        default:
            return invalid(instruction)
        }
    }

    /// Class LDX: `dst = *(size *)(src + off)`, sign-extending with BPF_MEMSX.
    private static func formatLoadFromMemory(_ instruction: Instruction) -> String {
        let code = instruction.opcode
        let signExtends = code & 0xe0 == 0x80
        guard code & 0xe0 == 0x60 || (signExtends && code & 0x18 != 0x18) else { return invalid(instruction) }
        return "r\(instruction.dst) = *(\(sizeName(code, signed: signExtends)) *)(\(address(instruction.src, instruction.offset)))"
    }

    /// Classes ST and STX: plain stores and atomic read-modify-writes.
    private static func formatStore(_ instruction: Instruction) -> String {
        let code = instruction.opcode
        let target = "*(\(sizeName(code)) *)(\(address(instruction.dst, instruction.offset)))"
        let isRegister = code & 0x07 == 0x03
        switch code & 0xe0 {
        case 0x60:
            return "\(target) = " + (isRegister ? "r\(instruction.src)" : String(instruction.imm))
        case 0xc0 where isRegister && (code & 0x18 == 0x00 || code & 0x18 == 0x18):
            return formatAtomic(instruction)
        default:
            return invalid(instruction)
        }
    }

    /// BPF_ATOMIC: `imm` picks the operation, `BPF_FETCH` (0x01) returns the old value.
    private static func formatAtomic(_ instruction: Instruction) -> String {
        let wide = instruction.opcode & 0x18 == 0x18
        let bits = wide ? "64" : "32"
        // 32-bit `lock` ops predate 32-bit registers and print with `r`;
        // the fetch/xchg forms came with ALU32 and print with `w` (as llvm does).
        let lockSource = "r\(instruction.src)"
        let src = register(instruction.src, wide: wide)
        let place = address(instruction.dst, instruction.offset)
        let typed = "(\(wide ? "u64" : "u32") *)(\(place))"
        switch instruction.imm {
        case let op where atomicOperation(op) != nil:
            return "lock *\(typed) \(atomicOperation(op)?.symbol ?? "?") \(lockSource)"
        case let op where op & 0x01 != 0 && atomicOperation(op & ~0x01) != nil:
            return "\(src) = atomic_fetch_\(atomicOperation(op & ~0x01)?.name ?? "?")(\(typed), \(src))"
        case 0xe1:  // BPF_XCHG
            return "\(src) = xchg\(wide ? "" : "32")_\(bits)(\(place), \(src))"
        case 0xf1:  // BPF_CMPXCHG: compares with r0, old value lands in r0
            let r0 = register(0, wide: wide)
            return "\(r0) = cmpxchg\(wide ? "" : "32")_\(bits)(\(place), \(r0), \(src))"
        default:
            return "invalid atomic operation 0x\(String(UInt32(bitPattern: instruction.imm), radix: 16))"
        }
    }

    /// Classes ALU (32-bit, `w` registers) and ALU64 (`r` registers).
    private static func formatArithmetic(_ instruction: Instruction, wide: Bool) -> String {
        let code = instruction.opcode
        let dst = register(instruction.dst, wide: wide)
        let usesRegister = code & 0x08 != 0
        let operand = usesRegister ? register(instruction.src, wide: wide) : String(instruction.imm)
        let signedDivision = instruction.offset == 1
        switch code & 0xf0 {
        case 0x00: return "\(dst) += \(operand)"
        case 0x10: return "\(dst) -= \(operand)"
        case 0x20: return "\(dst) *= \(operand)"
        case 0x30: return "\(dst) \(signedDivision ? "s/=" : "/=") \(operand)"
        case 0x40: return "\(dst) |= \(operand)"
        case 0x50: return "\(dst) &= \(operand)"
        case 0x60: return "\(dst) <<= \(operand)"
        case 0x70: return "\(dst) >>= \(operand)"
        case 0x80: return "\(dst) = -\(dst)"
        case 0x90: return "\(dst) \(signedDivision ? "s%=" : "%=") \(operand)"
        case 0xa0: return "\(dst) ^= \(operand)"
        case 0xb0:
            // MOVSX (cpu v4) sign-extends from the width in `off`.
            if usesRegister, [8, 16, 32].contains(instruction.offset) {
                return "\(dst) = (s\(instruction.offset))\(register(instruction.src, wide: wide))"
            }
            return "\(dst) = \(operand)"
        case 0xc0: return "\(dst) s>>= \(operand)"
        case 0xd0:
            // Byte swaps: to little/big endian (ALU), or unconditional bswap (ALU64, cpu v4).
            let name = wide ? "bswap" : (usesRegister ? "be" : "le")
            return "r\(instruction.dst) = \(name)\(instruction.imm) r\(instruction.dst)"
        default: return invalid(instruction)
        }
    }

    /// Classes JMP (64-bit compares) and JMP32 (32-bit compares), calls and exit.
    private static func formatJump(_ instruction: Instruction, wide: Bool, annotations: Annotations) -> String {
        let code = instruction.opcode
        let label = annotations.targetLabel.map { " <\($0)>" } ?? ""
        let distance = signed(Int(instruction.offset)) + label
        switch code & 0xf0 {
        case 0x00:
            if code & 0x08 != 0 { return invalid(instruction) }
            // JMP32|JA (cpu v4) is `gotol`, a long jump whose distance is in imm.
            return wide ? "goto \(distance)" : "gotol \(signed(Int(instruction.imm)))\(label)"
        case 0x80 where wide:
            return formatCall(instruction, annotations: annotations)
        case 0x90 where wide:
            return "exit"
        case let op:
            guard let symbol = comparison(op) else { return invalid(instruction) }
            let left = register(instruction.dst, wide: wide)
            let right = code & 0x08 != 0 ? register(instruction.src, wide: wide) : String(instruction.imm)
            return "if \(left) \(symbol) \(right) goto \(distance)"
        }
    }

    /// The operator of a conditional jump (`op` = opcode & 0xf0). A switch,
    /// not a dictionary literal: this runs once per instruction.
    private static func comparison(_ op: UInt8) -> String? {
        switch op {
        case 0x10: return "=="
        case 0x20: return ">"
        case 0x30: return ">="
        case 0x40: return "&"
        case 0x50: return "!="
        case 0x60: return "s>"
        case 0x70: return "s>="
        case 0xa0: return "<"
        case 0xb0: return "<="
        case 0xc0: return "s<"
        case 0xd0: return "s<="
        default: return nil
        }
    }

    /// BPF_ATOMIC read-modify-write operations by `imm` (without BPF_FETCH).
    private static func atomicOperation(_ imm: Int32) -> (symbol: String, name: String)? {
        switch imm {
        case 0x00: return ("+=", "add")
        case 0x40: return ("|=", "or")
        case 0x50: return ("&=", "and")
        case 0xa0: return ("^=", "xor")
        default: return nil
        }
    }

    private static func formatCall(_ instruction: Instruction, annotations: Annotations) -> String {
        switch instruction.src {
        case BPFOpcode.pseudoCall:
            if case .call(let function, _)? = annotations.relocation {
                return "call \(signed(Int(instruction.imm))) <\(function)>"
            }
            return "call \(instruction.imm)"
        case BPFOpcode.pseudoKernelFunctionCall:
            return "call kfunc#\(instruction.imm)"
        default:
            if annotations.namesHelpers, let name = BPFHelperNames.name(of: instruction.imm) {
                return "call \(name)#\(instruction.imm)"
            }
            return "call \(instruction.imm)"
        }
    }
}
