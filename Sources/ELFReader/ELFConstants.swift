/// The numbers of the ELF format this reader needs (from `<elf.h>`), with the
/// BPF-specific ones. Names follow the C constants so they can be looked up.
enum ELF {
    static let headerSize = 64
    static let sectionHeaderSize = 64
    static let symbolSize = 24
    static let relocationSize = 16

    // e_ident
    static let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]  // "\x7fELF"
    static let classELF32: UInt8 = 1
    static let classELF64: UInt8 = 2
    static let dataLittleEndian: UInt8 = 1
    static let dataBigEndian: UInt8 = 2

    // e_type, e_machine
    static let typeRelocatable: UInt16 = 1  // ET_REL: what `clang -c` produces
    static let machineBPF: UInt16 = 247     // EM_BPF

    // sh_type
    static let sectionNull: UInt32 = 0
    static let sectionProgBits: UInt32 = 1
    static let sectionSymbolTable: UInt32 = 2
    static let sectionStringTable: UInt32 = 3
    static let sectionRela: UInt32 = 4
    static let sectionNoBits: UInt32 = 8
    static let sectionRel: UInt32 = 9

    // sh_flags
    static let flagWrite: UInt64 = 0x1
    static let flagAlloc: UInt64 = 0x2
    static let flagExecInstr: UInt64 = 0x4

    // Special section indexes
    static let sectionIndexUndefined: UInt16 = 0
    static let sectionIndexExtended: UInt16 = 0xffff  // SHN_XINDEX

    // st_info: type (low nibble), binding (high nibble)
    static let symbolNoType: UInt8 = 0
    static let symbolObject: UInt8 = 1
    static let symbolFunction: UInt8 = 2
    static let symbolSection: UInt8 = 3
    static let symbolFile: UInt8 = 4
    static let bindingLocal: UInt8 = 0
    static let bindingGlobal: UInt8 = 1
    static let bindingWeak: UInt8 = 2

    // BPF relocation types (r_info low 32 bits)
    static let relocationBPF64_64: UInt32 = 1      // R_BPF_64_64: ld_imm64 of a map or global
    static let relocationBPF64_ABS64: UInt32 = 2
    static let relocationBPF64_ABS32: UInt32 = 3
    static let relocationBPF64_NODYLD32: UInt32 = 4
    static let relocationBPF64_32: UInt32 = 10     // R_BPF_64_32: bpf-to-bpf call

    /// A readable name for an `e_machine` value, for the "not EM_BPF" message.
    static func machineName(_ machine: UInt16) -> String {
        switch machine {
        case 3: return "i386 (3)"
        case 8: return "MIPS (8)"
        case 20: return "PowerPC (20)"
        case 21: return "PowerPC64 (21)"
        case 22: return "S/390 (22)"
        case 40: return "ARM (40)"
        case 62: return "x86-64 (62)"
        case 183: return "AArch64 (183)"
        case 243: return "RISC-V (243)"
        case 258: return "LoongArch (258)"
        default: return "\(machine)"
        }
    }

    static func relocationTypeName(_ type: UInt32) -> String {
        switch type {
        case 0: return "R_BPF_NONE"
        case relocationBPF64_64: return "R_BPF_64_64"
        case relocationBPF64_ABS64: return "R_BPF_64_ABS64"
        case relocationBPF64_ABS32: return "R_BPF_64_ABS32"
        case relocationBPF64_NODYLD32: return "R_BPF_64_NODYLD32"
        case relocationBPF64_32: return "R_BPF_64_32"
        default: return "relocation type \(type)"
        }
    }
}
