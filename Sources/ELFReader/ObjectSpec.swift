/// What a BPF object file holds, as plain values: no file descriptors, no
/// kernel state. `ObjectReader.read(_:)` produces it; BPFSyscall turns it into
/// live kernel objects.
public struct ObjectSpec: Sendable, Equatable {
    /// The `license` section (NUL stripped); the kernel gates GPL-only helpers on it.
    public var license: String
    /// The `version` section, if any (only old kprobe loaders needed it).
    public var kernelVersion: UInt32?
    /// Entry points, in section order.
    public var programs: [ProgramSpec]
    /// Maps from `.maps` (BTF), `maps` (legacy) and global data sections.
    public var maps: [MapSpec]
    /// The parsed `.BTF` section, if the object has one.
    public var btf: BTFSpec?
    /// Every section header, for teaching views and cross-checks.
    public var sections: [SectionHeader]
    /// Every symbol of `.symtab` (index 0, the null symbol, excluded).
    public var symbols: [Symbol]

    public init(license: String, kernelVersion: UInt32?, programs: [ProgramSpec], maps: [MapSpec],
                btf: BTFSpec?, sections: [SectionHeader], symbols: [Symbol]) {
        self.license = license
        self.kernelVersion = kernelVersion
        self.programs = programs
        self.maps = maps
        self.btf = btf
        self.sections = sections
        self.symbols = symbols
    }

    public func program(named name: String) -> ProgramSpec? { programs.first { $0.name == name } }
    public func map(named name: String) -> MapSpec? { maps.first { $0.name == name } }
}

/// One BPF program: an entry function, with every `.text` subprogram it
/// calls appended after it (bpf-to-bpf calls already point at them).
public struct ProgramSpec: Sendable, Equatable {
    /// The function's symbol name.
    public var name: String
    /// The ELF section it came from, e.g. `tracepoint/tcp/tcp_retransmit_skb`.
    public var sectionName: String
    /// Program type and attach point, derived from the section name.
    public var kind: ProgramKind
    /// Instruction slots, 8 bytes each: an `ld_imm64` takes two slots, as the kernel counts.
    /// The entry function comes first, then the subprograms it calls.
    public var instructions: [Instruction]
    /// Where the entry function ends: slots at and after this index are subprograms.
    public var entryLength: Int
    /// References still to be resolved at load time (maps, global data), plus
    /// the bpf-to-bpf calls already linked (kept so that listings can name them).
    /// `instructionIndex` counts slots in `instructions`.
    public var relocations: [Relocation]
    /// `.BTF.ext` func_info for this program, instruction offsets in slots of `instructions`.
    public var funcInfo: [FuncInfo]
    /// `.BTF.ext` line_info for this program, instruction offsets in slots of `instructions`.
    public var lineInfo: [LineInfo]
    /// `.BTF.ext` CO-RE relocations: instructions whose offset or immediate
    /// depends on the target kernel's types (`CORERelocator` computes them).
    public var coreRelocations: [CORERelocation]

    public init(name: String, sectionName: String, kind: ProgramKind, instructions: [Instruction],
                entryLength: Int, relocations: [Relocation], funcInfo: [FuncInfo], lineInfo: [LineInfo],
                coreRelocations: [CORERelocation] = []) {
        self.name = name
        self.sectionName = sectionName
        self.kind = kind
        self.instructions = instructions
        self.entryLength = entryLength
        self.relocations = relocations
        self.funcInfo = funcInfo
        self.lineInfo = lineInfo
        self.coreRelocations = coreRelocations
    }
}

/// The program type the kernel is told (`BPF_PROG_TYPE_*`) and what to attach to,
/// read from the section name as libbpf conventions spell it.
public enum ProgramKind: Sendable, Equatable {
    /// `tracepoint/<category>/<name>` or `tp/<category>/<name>`.
    case tracepoint(category: String, name: String)
    /// `tp_btf/<name>`, `fentry/<function>`, `fexit/<function>`: a BTF-typed program
    /// (`BPF_PROG_TYPE_TRACING`) whose arguments are the kernel's own typed pointers.
    case tracing(TracingAttach, target: String)
    /// A section name this reader does not map to a program type.
    case unknown

    /// What a tracing program attaches to; nil for other kinds.
    public var tracingAttach: TracingAttach? {
        if case .tracing(let attach, _) = self { return attach }
        return nil
    }

    /// `BPF_PROG_TYPE_TRACEPOINT` is 5, `BPF_PROG_TYPE_TRACING` 26; `nil` for `.unknown`.
    public var programType: UInt32? {
        switch self {
        case .tracepoint: return 5
        case .tracing: return 26
        case .unknown: return nil
        }
    }
}

/// What a tracing program attaches to; the raw value is its `bpf_attach_type`.
public enum TracingAttach: UInt32, Sendable, Equatable {
    /// A BTF-typed tracepoint: the kernel's `btf_trace_<name>` typedef gives the arguments.
    case rawTracepoint = 23
    case functionEntry = 24
    case functionExit = 25
    /// A BPF iterator (`iter/task`, ...): user space runs it by reading an fd; the kernel's
    /// `bpf_iter_<target>` function gives the arguments.
    case iterator = 28

    /// The section prefix libbpf uses.
    public var sectionPrefix: String {
        switch self {
        case .rawTracepoint: return "tp_btf"
        case .functionEntry: return "fentry"
        case .functionExit: return "fexit"
        case .iterator: return "iter"
        }
    }

    /// The kernel BTF type the program's `attach_btf_id` names, and its `BTF_KIND_*`:
    /// the tracepoint's `btf_trace_<name>` typedef, the iterator's `bpf_iter_<target>`
    /// function, or the function itself.
    public func attachType(target: String) -> (name: String, kind: Int) {
        switch self {
        case .rawTracepoint: return ("btf_trace_" + target, 8)
        case .iterator: return ("bpf_iter_" + target, 12)
        case .functionEntry, .functionExit: return (target, 12)
        }
    }
}

/// One 8-byte instruction slot as the kernel sees it
/// (`struct bpf_insn`: code, dst_reg:4, src_reg:4, off, imm).
public struct Instruction: Sendable, Equatable, Hashable {
    public var opcode: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    public init(opcode: UInt8, dst: UInt8, src: UInt8, offset: Int16, imm: Int32) {
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.offset = offset
        self.imm = imm
    }

    /// The 8 bytes the kernel expects, little-endian.
    public var bytes: [UInt8] {
        let off = UInt16(bitPattern: offset)
        let im = UInt32(bitPattern: imm)
        return [opcode, (src << 4) | (dst & 0x0f),
                UInt8(truncatingIfNeeded: off), UInt8(truncatingIfNeeded: off >> 8),
                UInt8(truncatingIfNeeded: im), UInt8(truncatingIfNeeded: im >> 8),
                UInt8(truncatingIfNeeded: im >> 16), UInt8(truncatingIfNeeded: im >> 24)]
    }
}

/// A reference in a program that the loader must fill in.
public struct Relocation: Sendable, Equatable {
    /// Slot index in `ProgramSpec.instructions` (the first slot of an `ld_imm64`).
    public var instructionIndex: Int
    public var target: RelocationTarget

    public init(instructionIndex: Int, target: RelocationTarget) {
        self.instructionIndex = instructionIndex
        self.target = target
    }
}

public enum RelocationTarget: Sendable, Equatable {
    /// `ld_imm64` of a map: the loader writes the map's fd (`src_reg` = `BPF_PSEUDO_MAP_FD`).
    case map(name: String)
    /// `ld_imm64` of a global variable: the loader writes the data section map's fd
    /// (`src_reg` = `BPF_PSEUDO_MAP_VALUE`) and `offset` into the second slot's imm.
    case mapValue(mapName: String, offset: UInt32)
    /// A bpf-to-bpf call, already linked: `imm` of the call points at `function`,
    /// which sits at slot `targetIndex` of the same program.
    case call(function: String, targetIndex: Int)

    /// The map an instruction refers to (`map` and `mapValue`), nil for calls.
    public var mapName: String? {
        switch self {
        case .map(let name): return name
        case .mapValue(let name, _): return name
        case .call: return nil
        }
    }
}

/// A map to create. `name` is what relocations refer to.
public struct MapSpec: Sendable, Equatable {
    public var name: String
    public var type: MapType
    public var keySize: UInt32
    public var valueSize: UInt32
    /// 0 for a perf event array means "one slot per possible CPU" (the loader decides).
    public var maxEntries: UInt32
    public var flags: UInt32
    public var source: MapSource
    /// For data-section maps: the section's initial bytes (zeros for `.bss`).
    public var initialValue: [UInt8]?
    /// For data-section maps: the variables it holds, by offset.
    public var variables: [VariableSpec]
    /// BTF type ids of key and value (0 when unknown), passed to `BPF_MAP_CREATE`.
    public var btfKeyTypeID: UInt32
    public var btfValueTypeID: UInt32

    public init(name: String, type: MapType, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32,
                flags: UInt32, source: MapSource, initialValue: [UInt8]? = nil,
                variables: [VariableSpec] = [], btfKeyTypeID: UInt32 = 0, btfValueTypeID: UInt32 = 0) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.source = source
        self.initialValue = initialValue
        self.variables = variables
        self.btfKeyTypeID = btfKeyTypeID
        self.btfValueTypeID = btfValueTypeID
    }
}

/// Where a map's definition was found.
public enum MapSource: String, Sendable, Equatable {
    /// A BTF-described variable in `.maps`.
    case btf
    /// A `struct bpf_map_def` in the legacy `maps` section.
    case legacy
    /// A global data section (`.rodata`, `.data`, `.bss`): a one-entry array.
    case dataSection = "data-section"
}

/// A global variable in a data section.
public struct VariableSpec: Sendable, Equatable {
    public var name: String
    public var offset: UInt32
    public var size: UInt32

    public init(name: String, offset: UInt32, size: UInt32) {
        self.name = name
        self.offset = offset
        self.size = size
    }
}

/// `BPF_MAP_TYPE_*`, kept open: an unknown number is still a valid map type to pass on.
public struct MapType: RawRepresentable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = MapType(rawValue: 1)
    public static let array = MapType(rawValue: 2)
    public static let perfEventArray = MapType(rawValue: 4)
    public static let perCPUHash = MapType(rawValue: 5)
    public static let perCPUArray = MapType(rawValue: 6)
    public static let ringBuffer = MapType(rawValue: 27)

    /// The kernel's name without the `BPF_MAP_TYPE_` prefix, e.g. `PERF_EVENT_ARRAY`.
    public var description: String {
        let names = ["UNSPEC", "HASH", "ARRAY", "PROG_ARRAY", "PERF_EVENT_ARRAY", "PERCPU_HASH",
                     "PERCPU_ARRAY", "STACK_TRACE", "CGROUP_ARRAY", "LRU_HASH", "LRU_PERCPU_HASH",
                     "LPM_TRIE", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "DEVMAP", "SOCKMAP", "CPUMAP",
                     "XSKMAP", "SOCKHASH", "CGROUP_STORAGE", "REUSEPORT_SOCKARRAY",
                     "PERCPU_CGROUP_STORAGE", "QUEUE", "STACK", "SK_STORAGE", "DEVMAP_HASH",
                     "STRUCT_OPS", "RINGBUF", "INODE_STORAGE", "TASK_STORAGE", "BLOOM_FILTER",
                     "USER_RINGBUF", "CGRP_STORAGE", "ARENA"]
        return Int(exactly: rawValue).flatMap { $0 < names.count ? names[$0] : nil } ?? "UNKNOWN(\(rawValue))"
    }
}

/// A `.BTF.ext` func_info record: the function starting at `instructionOffset` has BTF type `typeID`.
public struct FuncInfo: Sendable, Equatable {
    public var instructionOffset: UInt32
    public var typeID: UInt32
    public init(instructionOffset: UInt32, typeID: UInt32) {
        self.instructionOffset = instructionOffset
        self.typeID = typeID
    }
}

/// A `.BTF.ext` line_info record (`struct bpf_line_info`): source position of an instruction.
/// `fileNameOffset` and `lineOffset` index the BTF string table.
public struct LineInfo: Sendable, Equatable {
    public var instructionOffset: UInt32
    public var fileNameOffset: UInt32
    public var lineOffset: UInt32
    /// `line << 10 | column`, as the kernel stores it.
    public var lineColumn: UInt32
    public init(instructionOffset: UInt32, fileNameOffset: UInt32, lineOffset: UInt32, lineColumn: UInt32) {
        self.instructionOffset = instructionOffset
        self.fileNameOffset = fileNameOffset
        self.lineOffset = lineOffset
        self.lineColumn = lineColumn
    }
    public var line: UInt32 { lineColumn >> 10 }
    public var column: UInt32 { lineColumn & 0x3ff }
}

/// An ELF section header, with its name resolved.
public struct SectionHeader: Sendable, Equatable {
    public var index: Int
    public var name: String
    public var type: UInt32
    public var flags: UInt64
    public var offset: UInt64
    public var size: UInt64
    public var link: UInt32
    public var info: UInt32
    public var alignment: UInt64
    public var entrySize: UInt64
    public init(index: Int, name: String, type: UInt32, flags: UInt64, offset: UInt64, size: UInt64,
                link: UInt32, info: UInt32, alignment: UInt64, entrySize: UInt64) {
        self.index = index; self.name = name; self.type = type; self.flags = flags
        self.offset = offset; self.size = size; self.link = link; self.info = info
        self.alignment = alignment; self.entrySize = entrySize
    }
}

/// A `.symtab` entry, with its name resolved.
public struct Symbol: Sendable, Equatable {
    public var index: Int
    public var name: String
    public var value: UInt64
    public var size: UInt64
    /// `STT_*` (low 4 bits of st_info).
    public var type: UInt8
    /// `STB_*` (high 4 bits of st_info).
    public var binding: UInt8
    public var sectionIndex: UInt16
    public init(index: Int, name: String, value: UInt64, size: UInt64, type: UInt8, binding: UInt8, sectionIndex: UInt16) {
        self.index = index; self.name = name; self.value = value; self.size = size
        self.type = type; self.binding = binding; self.sectionIndex = sectionIndex
    }
}
