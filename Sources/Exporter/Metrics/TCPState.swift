/// Names of the kernel's TCP states (include/net/tcp_states.h), as tcpretrans prints them.
enum TCPState {
    private static let names: [StaticString] = [
        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
    ]

    /// The name of a known state (1 = ESTABLISHED ... 13), nil for any other value.
    static func name(_ state: Int32) -> StaticString? {
        guard state >= 1, Int(state) <= names.count else { return nil }
        return names[Int(state) - 1]
    }

    /// The name, or the number for states this table does not know (newer kernels).
    static func text(_ state: Int32) -> String {
        if let name = name(state) { return name.description }
        return String(state)
    }
}
