/// One retransmission (a hit of tcp/tcp_retransmit_skb or tcp/tcp_retransmit_synack), as the
/// BPF program sends it (bpf/retrans_event.h).
///
/// Addresses are kept as two big-endian 64-bit halves of the 16-byte field: equality, hashing
/// and ordering are then plain integer operations, and byte `i` is `(high, low)` shifted.
struct RetransEvent: Sendable, Hashable {
    /// CLOCK_BOOTTIME in nanoseconds.
    var timestampNanoseconds: UInt64
    /// TCP state of the socket (TCP_ESTABLISHED = 1, ...).
    var state: Int32
    /// 0, or the -errno of a retransmission that failed (kernels whose tracepoint has `err`).
    var error: Int32
    /// AF_INET (2) or AF_INET6 (10).
    var family: UInt16
    var sourcePort: UInt16
    var destinationPort: UInt16
    var sourceAddress: IPAddress
    var destinationAddress: IPAddress
    /// Segments the skb carried (`tcp_skb_pcount`); 1 for a SYN-ACK; 0 when not known (the
    /// tracepoint/ programs cannot read the skb).
    var segments: UInt16 = 0
    /// The socket's network namespace inode; 0 when not known.
    var networkNamespace: UInt32 = 0
    var kind: RetransmissionKind = .unknown
    /// The socket's cgroup v2 id (the inode of its directory); 0 when not known.
    var cgroupID: UInt64 = 0

    static let addressFamilyIPv4: UInt16 = 2
    static let addressFamilyIPv6: UInt16 = 10

    /// The C layout, written out here on purpose: the loader compares these offsets with the
    /// BTF of `struct retrans_event` in the object (`RetransObjectBinding`), so a change to the
    /// header cannot go unnoticed by the decoder.
    enum Layout {
        static let timestampNanoseconds = 0
        static let state = 8
        static let error = 12
        static let family = 16
        static let sourcePort = 18
        static let destinationPort = 20
        static let segments = 22
        static let sourceAddress = 24
        static let destinationAddress = 40
        static let networkNamespace = 56
        static let kind = 60
        static let reserved = 61
        static let cgroupID = 64
        static let size = 72

        /// Member names in bpf/retrans_event.h and their offsets.
        static let fields: [(name: String, offset: Int)] = [
            ("timestamp_ns", timestampNanoseconds), ("state", state), ("err", error), ("family", family),
            ("sport", sourcePort), ("dport", destinationPort), ("segments", segments),
            ("saddr", sourceAddress), ("daddr", destinationAddress), ("netns", networkNamespace),
            ("kind", kind), ("reserved", reserved), ("cgroup_id", cgroupID),
        ]
    }

    /// Decodes one sample's raw bytes (little-endian, as the kernel wrote them). The perf ring
    /// pads raw samples, so longer records are accepted and the tail ignored.
    @inline(__always)
    static func decode(_ raw: UnsafeRawBufferPointer) throws(EventDecodeError) -> RetransEvent {
        guard raw.count >= Layout.size else {
            throw .truncated(byteCount: raw.count)
        }
        let family = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.family, as: UInt16.self))
        var source = IPAddress(networkOrderBytesAt: Layout.sourceAddress, of: raw)
        var destination = IPAddress(networkOrderBytesAt: Layout.destinationAddress, of: raw)
        switch family {
        case addressFamilyIPv4:
            // The kernel stores IPv4 sockets' addresses v4-mapped; rebuild the mapping from the
            // low 32 bits so that a stray upper half cannot make a v4 flow look like v6.
            source = IPAddress(ipv4: source.ipv4Bits)
            destination = IPAddress(ipv4: destination.ipv4Bits)
        case addressFamilyIPv6:
            break
        default:
            throw .unknownFamily(family)
        }
        return RetransEvent(
            timestampNanoseconds: UInt64(littleEndian: raw.loadUnaligned(
                fromByteOffset: Layout.timestampNanoseconds, as: UInt64.self)),
            state: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.state, as: Int32.self)),
            error: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.error, as: Int32.self)),
            family: family,
            sourcePort: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.sourcePort, as: UInt16.self)),
            destinationPort: UInt16(littleEndian: raw.loadUnaligned(
                fromByteOffset: Layout.destinationPort, as: UInt16.self)),
            sourceAddress: source,
            destinationAddress: destination,
            segments: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.segments, as: UInt16.self)),
            networkNamespace: UInt32(littleEndian: raw.loadUnaligned(
                fromByteOffset: Layout.networkNamespace, as: UInt32.self)),
            kind: RetransmissionKind(code: raw.load(fromByteOffset: Layout.kind, as: UInt8.self)),
            cgroupID: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: Layout.cgroupID, as: UInt64.self)))
    }
}

/// Why a segment was sent again, as the BPF program decides it from the socket's state
/// (enum retrans_kind in bpf/retrans_event.h; docs/METRICS.md says how each is derived and
/// which kernel counter it matches). The raw values are the C enum's.
enum RetransmissionKind: UInt8, Sendable, Hashable, CaseIterable {
    /// The tracepoint/ programs (no kernel BTF): no socket state to read. Label value "".
    case unknown = 0
    case timeout = 1
    case fast = 2
    case tailLossProbe = 3
    case syn = 4
    case synAck = 5
    case other = 6

    /// A code this exporter does not know (a newer object) counts as `other`.
    @inline(__always)
    init(code: UInt8) {
        self = RetransmissionKind(rawValue: code) ?? .other
    }

    /// The `kind` label's value.
    var label: StaticString {
        switch self {
        case .unknown: ""
        case .timeout: "timeout"
        case .fast: "fast"
        case .tailLossProbe: "tlp"
        case .syn: "syn"
        case .synAck: "synack"
        case .other: "other"
        }
    }
}

/// Why a sample could not be decoded. Counted in `retrans_exporter_decode_errors_total`.
enum EventDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(byteCount: Int)
    case unknownFamily(UInt16)

    var description: String {
        switch self {
        case .truncated(let byteCount):
            "event record too short: \(byteCount) bytes, expected at least \(RetransEvent.Layout.size)"
        case .unknownFamily(let family):
            "event record has unknown address family \(family) (expected 2 = AF_INET or 10 = AF_INET6)"
        }
    }
}
