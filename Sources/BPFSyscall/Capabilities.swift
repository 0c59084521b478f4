/// Capability sets as the kernel reports them: bit n is capability n.
public struct CapabilityState: Sendable, Equatable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64

    public init(effective: UInt64, permitted: UInt64, inheritable: UInt64) {
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
    }

    public static let none = CapabilityState(effective: 0, permitted: 0, inheritable: 0)

    public var isEmpty: Bool { self == .none }

    public func hasEffective(_ capability: LinuxCapability) -> Bool {
        effective & capability.bit != 0
    }

    /// The named capabilities among the effective ones, for messages.
    public var effectiveNames: [String] {
        LinuxCapability.allCases.filter(hasEffective).map(\.name)
    }
}

/// The capabilities this project asks about (numbers from linux/capability.h): the one
/// vocabulary for the loader, `check` and the privilege drop.
public enum LinuxCapability: Int32, Sendable, CaseIterable {
    case dacReadSearch = 2
    case setgid = 6
    case setuid = 7
    case setpcap = 8
    case ipcLock = 14
    case sysAdmin = 21
    case perfmon = 38
    case bpf = 39

    public var bit: UInt64 { 1 << UInt64(rawValue) }

    public var name: String {
        switch self {
        case .dacReadSearch: return "CAP_DAC_READ_SEARCH"
        case .setgid: return "CAP_SETGID"
        case .setuid: return "CAP_SETUID"
        case .setpcap: return "CAP_SETPCAP"
        case .ipcLock: return "CAP_IPC_LOCK"
        case .sysAdmin: return "CAP_SYS_ADMIN"
        case .perfmon: return "CAP_PERFMON"
        case .bpf: return "CAP_BPF"
        }
    }
}
