/// The compact identity of one series: an event reduced to the chosen labels.
///
/// 40 bytes, no strings: the hot path hashes and compares five machine words, and label text is
/// rendered only at scrape time. Fields of labels not chosen are zeroed, with one exception: an
/// address that is not chosen keeps its family (`::ffff:0.0.0.0` for IPv4, `::` for IPv6) so
/// that `ip_version` can still be rendered from the key alone.
struct FlowKey: Sendable, Hashable, Comparable {
    var source: IPAddress
    var destination: IPAddress
    var sourcePort: UInt16
    var destinationPort: UInt16
    var state: Int32

    @inline(__always)
    init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16, state: Int32) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.state = state
    }

    @inline(__always)
    init(_ event: RetransEvent, mask: FlowKeyMask) {
        self.init(
            source: mask.source(event.sourceAddress),
            destination: mask.destination(event.destinationAddress),
            sourcePort: mask.keepsSourcePort ? event.sourcePort : 0,
            destinationPort: mask.keepsDestinationPort ? event.destinationPort : 0,
            state: mask.keepsState ? event.state : 0)
    }

    /// Ports and state in one word, for hashing.
    @inline(__always)
    var portsAndState: UInt64 {
        UInt64(sourcePort) << 48 | UInt64(destinationPort) << 32 | UInt64(UInt32(bitPattern: state))
    }

    @inline(__always)
    static func == (lhs: FlowKey, rhs: FlowKey) -> Bool {
        lhs.source == rhs.source && lhs.destination == rhs.destination
            && lhs.portsAndState == rhs.portsAndState
    }

    @inline(__always)
    func hash(into hasher: inout Hasher) {
        hasher.combine(source.high)
        hasher.combine(source.low)
        hasher.combine(destination.high)
        hasher.combine(destination.low)
        hasher.combine(portsAndState)
    }

    /// Exposition order: version, source address, source port, destination address, port, state.
    static func < (lhs: FlowKey, rhs: FlowKey) -> Bool {
        let lhsVersion = lhs.source.ipVersion
        let rhsVersion = rhs.source.ipVersion
        if lhsVersion != rhsVersion { return lhsVersion < rhsVersion }
        if lhs.source != rhs.source { return lhs.source < rhs.source }
        if lhs.sourcePort != rhs.sourcePort { return lhs.sourcePort < rhs.sourcePort }
        if lhs.destination != rhs.destination { return lhs.destination < rhs.destination }
        if lhs.destinationPort != rhs.destinationPort { return lhs.destinationPort < rhs.destinationPort }
        return lhs.state < rhs.state
    }
}

/// Which parts of an event a `FlowKey` keeps, from the label selection.
struct FlowKeyMask: Sendable, Equatable {
    let keepsIPVersion: Bool
    let keepsSourceAddress: Bool
    let keepsSourcePort: Bool
    let keepsDestinationAddress: Bool
    let keepsDestinationPort: Bool
    let keepsState: Bool

    init(_ selection: FlowLabelSelection) {
        keepsIPVersion = selection.contains(.ipVersion)
        keepsSourceAddress = selection.contains(.sourceIP)
        keepsSourcePort = selection.contains(.sourcePort)
        keepsDestinationAddress = selection.contains(.destinationIP)
        keepsDestinationPort = selection.contains(.destinationPort)
        keepsState = selection.contains(.state)
    }

    @inline(__always)
    func source(_ address: IPAddress) -> IPAddress {
        keepsSourceAddress ? address : familyOnly(address)
    }

    @inline(__always)
    func destination(_ address: IPAddress) -> IPAddress {
        keepsDestinationAddress ? address : familyOnly(address)
    }

    @inline(__always)
    private func familyOnly(_ address: IPAddress) -> IPAddress {
        guard keepsIPVersion else { return .zero }
        return address.isIPv4Mapped ? IPAddress(ipv4: 0) : .zero
    }
}
