/// One line per retransmission, like the classic tcpretrans tool (without PID: the
/// tracepoint often fires in softirq context, where the current task is unrelated).
struct TailFormatter: Sendable {
    let clock: WallClock
    let json: Bool

    static let header = "TIME            IP SADDR:SPORT                                  DADDR:DPORT                                  "
        + "STATE        KIND    SEGS NETNS      CGROUP"

    /// `cgroupPath`: the socket's cgroup, resolved from `event.cgroupID` (nil: not known).
    func line(for event: RetransEvent, cgroupPath: String? = nil) -> String {
        json ? jsonLine(event, cgroupPath: cgroupPath) : textLine(event, cgroupPath: cgroupPath)
    }

    /// Columns as the header; `-` where the program could not tell (the tracepoint/ fallback).
    private func textLine(_ event: RetransEvent, cgroupPath: String?) -> String {
        let source = endpoint(event.sourceAddress, event.sourcePort)
        let destination = endpoint(event.destinationAddress, event.destinationPort)
        var line = "\(clock.timeOfDay(bootTime: event.timestampNanoseconds)) \(event.sourceAddress.ipVersion)  "
        line += padded(source, 44) + " " + padded(destination, 44) + " " + padded(TCPState.text(event.state), 12)
        line += " " + padded(event.kind == .unknown ? "-" : "\(event.kind.label)", 7)
        line += " " + padded(event.segments == 0 ? "-" : String(event.segments), 4)
        line += " " + padded(event.networkNamespace == 0 ? "-" : String(event.networkNamespace), 10)
        line += " " + (cgroupPath ?? (event.cgroupID == 0 ? "-" : "#\(event.cgroupID)"))
        if event.error != 0 { line += " err=\(event.error)" }
        return line
    }

    private func jsonLine(_ event: RetransEvent, cgroupPath: String?) -> String {
        var line = "{\"time\":\"\(clock.iso8601(bootTime: event.timestampNanoseconds))\""
        line += ",\"boot_ns\":\(event.timestampNanoseconds)"
        line += ",\"ip_version\":\(event.sourceAddress.ipVersion)"
        line += ",\"src_ip\":\"\(event.sourceAddress.text)\",\"src_port\":\(event.sourcePort)"
        line += ",\"dst_ip\":\"\(event.destinationAddress.text)\",\"dst_port\":\(event.destinationPort)"
        line += ",\"state\":\"\(TCPState.text(event.state))\",\"err\":\(event.error)"
        // Unknown (the tracepoint/ fallback): "" and 0, as the metrics' labels.
        line += ",\"kind\":\"\(event.kind.label)\",\"segments\":\(event.segments)"
        line += ",\"netns\":\(event.networkNamespace),\"cgroup_id\":\(event.cgroupID),\"cgroup\":"
        JSONValue.writeString(cgroupPath ?? "", to: &line)
        line += "}"
        return line
    }

    private func endpoint(_ address: IPAddress, _ port: UInt16) -> String {
        address.ipVersion == 4 ? "\(address.text):\(port)" : "[\(address.text)]:\(port)"
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}
