// The attributes of the raw calls, as Swift values (the live `Syscalls` turns them into pointers).

/// `BPF_MAP_CREATE` attributes. `btfFD` 0 means no BTF, and then the type ids must be 0 too.
public struct MapCreateRequest: Sendable, Equatable {
    public var type: UInt32
    /// At most 15 bytes reach the kernel.
    public var name: String
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    public var flags: UInt32
    public var btfFD: Int32
    public var btfKeyTypeID: UInt32
    public var btfValueTypeID: UInt32

    public init(type: UInt32, name: String, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32,
                flags: UInt32, btfFD: Int32 = 0, btfKeyTypeID: UInt32 = 0, btfValueTypeID: UInt32 = 0) {
        self.type = type
        self.name = name
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.btfFD = btfFD
        self.btfKeyTypeID = btfKeyTypeID
        self.btfValueTypeID = btfValueTypeID
    }
}

/// `BPF_PROG_LOAD` attributes other than the log. Records are already in kernel layout.
public struct ProgramLoadRequest: Sendable, Equatable {
    public var type: UInt32
    /// At most 15 bytes reach the kernel.
    public var name: String
    /// 8 bytes per slot, little-endian `struct bpf_insn`.
    public var instructions: [UInt8]
    public var license: String
    public var kernelVersion: UInt32
    /// 0: no BTF, and then no func_info/line_info either.
    public var btfFD: Int32
    /// `struct bpf_func_info` records, 8 bytes each.
    public var funcInfo: [UInt8]
    /// `struct bpf_line_info` records, 16 bytes each.
    public var lineInfo: [UInt8]
    /// Tracing programs: the `bpf_attach_type`, and the kernel BTF type they attach to
    /// (in vmlinux when `attachBTFObjectFD` is 0).
    public var expectedAttachType: UInt32 = 0
    public var attachBTFID: UInt32 = 0
    public var attachBTFObjectFD: Int32 = 0

    public static let funcInfoRecordSize: UInt32 = 8
    public static let lineInfoRecordSize: UInt32 = 16

    public init(type: UInt32, name: String, instructions: [UInt8], license: String, kernelVersion: UInt32 = 0,
                btfFD: Int32 = 0, funcInfo: [UInt8] = [], lineInfo: [UInt8] = []) {
        self.type = type
        self.name = name
        self.instructions = instructions
        self.license = license
        self.kernelVersion = kernelVersion
        self.btfFD = btfFD
        self.funcInfo = funcInfo
        self.lineInfo = lineInfo
    }
}

/// `perf_event_open(2)` attributes this project uses.
public struct PerfEventOpenRequest: Sendable, Equatable {
    public var type: UInt32
    public var config: UInt64
    public var sampleType: UInt64
    public var samplePeriod: UInt64
    /// Samples per wakeup, or bytes when `useWatermark`.
    public var wakeup: UInt32
    public var useWatermark: Bool
    public var pid: Int32
    public var cpu: Int32
    public var groupFD: Int32
    public var flags: UInt

    public init(type: UInt32, config: UInt64, sampleType: UInt64 = 0, samplePeriod: UInt64 = 0,
                wakeup: UInt32 = 0, useWatermark: Bool = false, pid: Int32 = -1, cpu: Int32,
                groupFD: Int32 = -1, flags: UInt = 8 /* PERF_FLAG_FD_CLOEXEC */) {
        self.type = type
        self.config = config
        self.sampleType = sampleType
        self.samplePeriod = samplePeriod
        self.wakeup = wakeup
        self.useWatermark = useWatermark
        self.pid = pid
        self.cpu = cpu
        self.groupFD = groupFD
        self.flags = flags
    }
}
