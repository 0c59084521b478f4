/// Where CO-RE looks for types: the kernel's BTF, and its modules' split BTF.
/// As in libbpf, a type is looked for in modules only when vmlinux has no candidate.
public struct CORETarget: Sendable {
    public var vmlinux: KernelBTF
    public var modules: [KernelBTF]

    public init(vmlinux: KernelBTF, modules: [KernelBTF] = []) {
        self.vmlinux = vmlinux
        self.modules = modules
    }
}

/// What one CO-RE relocation resolves to on a target.
public struct COREResolution: Sendable, Equatable {
    public var relocation: CORERelocation
    /// The local root type in C terms: `struct sock`.
    public var typeName: String
    /// The access path in C terms, from the local spec: `sock.__sk_common.skc_net`.
    public var access: String
    /// The value compiled into the object (libbpf's `orig_val`).
    public var localValue: UInt64
    /// The value to write into the instruction; nil when the instruction is
    /// poisoned (no target has the field, or its size cannot be adjusted).
    public var targetValue: UInt64?
    /// Why the instruction is poisoned, when it is.
    public var poisonReason: String?
    /// The matched target root type, where one matched: its id and the BTF holding it.
    public var targetTypeID: UInt32?
    public var targetBTF: String?
    /// The target's low-level path and bit offset, e.g. `0:0:12:0 @ bit 384`, for teaching views.
    public var targetPath: String?

    /// Load/store sizes in bytes (object, target), when a `byte_off` on a
    /// load or store must also change the access width.
    var memorySizes: (local: UInt32, target: UInt32) = (0, 0)
    /// Whether the instruction must hold `localValue` before patching (libbpf's `validate`).
    var validatesLocalValue = true
    /// Set when the field's width changed in a way a load cannot follow
    /// (signed ints, mixed kinds): poisons loads and stores only.
    var failsMemorySizeAdjustment = false

    public var isPoisoned: Bool { targetValue == nil }

    public static func == (a: COREResolution, b: COREResolution) -> Bool {
        a.relocation == b.relocation && a.typeName == b.typeName && a.access == b.access && a.localValue == b.localValue
            && a.targetValue == b.targetValue && a.poisonReason == b.poisonReason && a.targetTypeID == b.targetTypeID
            && a.targetBTF == b.targetBTF && a.targetPath == b.targetPath && a.memorySizes == b.memorySizes
            && a.validatesLocalValue == b.validatesLocalValue && a.failsMemorySizeAdjustment == b.failsMemorySizeAdjustment
    }
}

/// A relocation that cannot be resolved or applied: the load must fail.
/// The description names the program, the instruction and the access path.
public struct CORERelocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var program: String
    public var instruction: Int
    public var kind: COREKind
    /// C terms where known (`sock.__sk_common.skc_net`), else the raw access string.
    public var access: String
    public var reason: String

    public init(program: String, instruction: Int, kind: COREKind, access: String, reason: String) {
        self.program = program
        self.instruction = instruction
        self.kind = kind
        self.access = access
        self.reason = reason
    }

    public var description: String {
        "program \(program): instruction \(instruction): CO-RE \(kind.name) of \(access): \(reason)"
    }
}
