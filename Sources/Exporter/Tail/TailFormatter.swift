/// One line per retransmission, like the classic tcpretrans tool (without PID: the
/// tracepoint often fires in softirq context, where the current task is unrelated).
struct TailFormatter: Sendable {
    let clock: WallClock
    let json: Bool

    static let header = "TIME            IP SADDR:SPORT                                  DADDR:DPORT                                  STATE"

    func line(for event: RetransEvent) -> String {
        json ? jsonLine(event) : textLine(event)
    }

    private func textLine(_ event: RetransEvent) -> String {
        let source = endpoint(event.sourceAddress, event.sourcePort)
        let destination = endpoint(event.destinationAddress, event.destinationPort)
        var line = "\(clock.timeOfDay(bootTime: event.timestampNanoseconds)) \(event.sourceAddress.ipVersion)  "
        line += padded(source, 44) + " " + padded(destination, 44) + " " + TCPState.text(event.state)
        if event.error != 0 { line += " err=\(event.error)" }
        return line
    }

    private func jsonLine(_ event: RetransEvent) -> String {
        var line = "{\"time\":\"\(clock.iso8601(bootTime: event.timestampNanoseconds))\""
        line += ",\"boot_ns\":\(event.timestampNanoseconds)"
        line += ",\"ip_version\":\(event.sourceAddress.ipVersion)"
        line += ",\"src_ip\":\"\(event.sourceAddress.text)\",\"src_port\":\(event.sourcePort)"
        line += ",\"dst_ip\":\"\(event.destinationAddress.text)\",\"dst_port\":\(event.destinationPort)"
        line += ",\"state\":\"\(TCPState.text(event.state))\",\"err\":\(event.error)}"
        return line
    }

    private func endpoint(_ address: IPAddress, _ port: UInt16) -> String {
        address.ipVersion == 4 ? "\(address.text):\(port)" : "[\(address.text)]:\(port)"
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}
