/// The compact identity of one series: an event reduced to the chosen labels.
///
/// 56 bytes, no strings: the hot path hashes six machine words and compares seven, and label
/// text is rendered only at scrape time (the cgroup's path, pod and container from its id). Fields of labels not chosen are zeroed, with one exception: an
/// address that is not chosen keeps its family (`::ffff:0.0.0.0` for IPv4, `::` for IPv6) so
/// that `ip_version` can still be rendered from the key alone.
struct FlowKey: Sendable, Hashable, Comparable {
    var source: IPAddress
    var destination: IPAddress
    /// The socket's cgroup v2 id (`cgroup`, `pod_uid`, `container_id`), 0 if not chosen.
    var cgroupID: UInt64
    var sourcePort: UInt16
    var destinationPort: UInt16
    var state: Int32
    var networkNamespace: UInt32
    var kind: RetransmissionKind

    @inline(__always)
    init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16, state: Int32,
         networkNamespace: UInt32 = 0, kind: RetransmissionKind = .unknown, cgroupID: UInt64 = 0) {
        self.source = source
        self.destination = destination
        self.cgroupID = cgroupID
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.state = state
        self.networkNamespace = networkNamespace
        self.kind = kind
    }

    @inline(__always)
    init(_ event: RetransEvent, mask: FlowKeyMask) {
        self.init(
            source: mask.source(event.sourceAddress),
            destination: mask.destination(event.destinationAddress),
            sourcePort: mask.keepsSourcePort ? event.sourcePort : 0,
            destinationPort: mask.keepsDestinationPort ? event.destinationPort : 0,
            state: mask.keepsState ? event.state : 0,
            networkNamespace: mask.keepsNetworkNamespace ? event.networkNamespace : 0,
            kind: mask.keepsKind ? event.kind : .unknown,
            cgroupID: mask.keepsCgroup ? event.cgroupID : 0)
    }

    /// Ports and state in one word, for hashing.
    @inline(__always)
    var portsAndState: UInt64 {
        UInt64(sourcePort) << 48 | UInt64(destinationPort) << 32 | UInt64(UInt32(bitPattern: state))
    }

    /// Network namespace and kind in one word, for comparing.
    @inline(__always)
    var namespaceAndKind: UInt64 {
        UInt64(networkNamespace) << 8 | UInt64(kind.rawValue)
    }

    /// The attribution fields folded into one word, for hashing: SipHash's cost grows with
    /// every word, and these are all 0 unless their labels are chosen. The multiply spreads
    /// the namespace and kind over the cgroup id's bits; equality still compares each field.
    @inline(__always)
    var attributionWord: UInt64 {
        cgroupID ^ (namespaceAndKind &* 0x9E37_79B9_7F4A_7C15)
    }

    @inline(__always)
    static func == (lhs: FlowKey, rhs: FlowKey) -> Bool {
        lhs.source == rhs.source && lhs.destination == rhs.destination
            && lhs.portsAndState == rhs.portsAndState && lhs.namespaceAndKind == rhs.namespaceAndKind
            && lhs.cgroupID == rhs.cgroupID
    }

    @inline(__always)
    func hash(into hasher: inout Hasher) {
        hasher.combine(source.high)
        hasher.combine(source.low)
        hasher.combine(destination.high)
        hasher.combine(destination.low)
        hasher.combine(portsAndState)
        // Zero unless attribution labels are chosen (the default): then not hashed at all.
        let attribution = attributionWord
        if attribution != 0 { hasher.combine(attribution) }
    }

    /// Exposition order: version, source address, source port, destination address, port,
    /// state, then kind, network namespace and cgroup id.
    static func < (lhs: FlowKey, rhs: FlowKey) -> Bool {
        let lhsVersion = lhs.source.ipVersion
        let rhsVersion = rhs.source.ipVersion
        if lhsVersion != rhsVersion { return lhsVersion < rhsVersion }
        if lhs.source != rhs.source { return lhs.source < rhs.source }
        if lhs.sourcePort != rhs.sourcePort { return lhs.sourcePort < rhs.sourcePort }
        if lhs.destination != rhs.destination { return lhs.destination < rhs.destination }
        if lhs.destinationPort != rhs.destinationPort { return lhs.destinationPort < rhs.destinationPort }
        if lhs.state != rhs.state { return lhs.state < rhs.state }
        if lhs.kind != rhs.kind { return lhs.kind.rawValue < rhs.kind.rawValue }
        if lhs.networkNamespace != rhs.networkNamespace { return lhs.networkNamespace < rhs.networkNamespace }
        return lhs.cgroupID < rhs.cgroupID
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
    let keepsKind: Bool
    let keepsNetworkNamespace: Bool
    /// `cgroup`, `pod_uid` and `container_id` all come from the cgroup id.
    let keepsCgroup: Bool

    init(_ selection: FlowLabelSelection) {
        keepsIPVersion = selection.contains(.ipVersion)
        keepsSourceAddress = selection.contains(.sourceIP)
        keepsSourcePort = selection.contains(.sourcePort)
        keepsDestinationAddress = selection.contains(.destinationIP)
        keepsDestinationPort = selection.contains(.destinationPort)
        keepsState = selection.contains(.state)
        keepsKind = selection.contains(.kind)
        keepsNetworkNamespace = selection.contains(.networkNamespace)
        keepsCgroup = selection.contains(.cgroup) || selection.contains(.podUID) || selection.contains(.containerID)
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
