import BPFSyscall
import CRingTestSupport
import ELFReader
import KernelTestSupport
import Testing
@testable import Exporter

@Suite struct RetransEventTests {
    /// The decoder's offsets are literals; clang's layout of the shared header is the witness.
    @Test func decoderOffsetsMatchTheCHeader() {
        typealias Layout = RetransEvent.Layout
        #expect(MemoryLayout<retrans_event>.offset(of: \.timestamp_ns) == Layout.timestampNanoseconds)
        #expect(MemoryLayout<retrans_event>.offset(of: \.state) == Layout.state)
        #expect(MemoryLayout<retrans_event>.offset(of: \.err) == Layout.error)
        #expect(MemoryLayout<retrans_event>.offset(of: \.family) == Layout.family)
        #expect(MemoryLayout<retrans_event>.offset(of: \.sport) == Layout.sourcePort)
        #expect(MemoryLayout<retrans_event>.offset(of: \.dport) == Layout.destinationPort)
        #expect(MemoryLayout<retrans_event>.offset(of: \.reserved) == Layout.reserved)
        #expect(MemoryLayout<retrans_event>.offset(of: \.saddr) == Layout.sourceAddress)
        #expect(MemoryLayout<retrans_event>.offset(of: \.daddr) == Layout.destinationAddress)
        #expect(MemoryLayout<retrans_event>.offset(of: \.segments) == Layout.segments)
        #expect(MemoryLayout<retrans_event>.offset(of: \.netns) == Layout.networkNamespace)
        #expect(MemoryLayout<retrans_event>.offset(of: \.kind) == Layout.kind)
        #expect(MemoryLayout<retrans_event>.offset(of: \.cgroup_id) == Layout.cgroupID)
        #expect(MemoryLayout<retrans_event>.size == Layout.size)
        #expect(Int(RETRANS_EVENT_SIZE) == Layout.size)
    }

    /// The attribution fields of the tp_btf programs, and the C enum's kind codes.
    @Test func decodesSegmentsNamespaceKindAndCgroup() throws {
        let bytes = EventBytes.make(
            source: [10, 203, 0, 1], destination: [10, 203, 0, 2], sourcePort: 1, destinationPort: 2,
            segments: 44, networkNamespace: 4_026_532_317, kind: UInt8(RETRANS_KIND_TLP.rawValue),
            cgroupID: 0x0000_0001_0000_2F3A)
        let event = try bytes.withUnsafeBytes { try RetransEvent.decode($0) }
        #expect(event.segments == 44)
        #expect(event.networkNamespace == 4_026_532_317)
        #expect(event.kind == .tailLossProbe)
        #expect(event.cgroupID == 0x0000_0001_0000_2F3A)
        let codes: [(Exporter.RetransmissionKind, retrans_kind)] = [
            (.unknown, RETRANS_KIND_UNKNOWN), (.timeout, RETRANS_KIND_TIMEOUT), (.fast, RETRANS_KIND_FAST),
            (.tailLossProbe, RETRANS_KIND_TLP), (.syn, RETRANS_KIND_SYN), (.synAck, RETRANS_KIND_SYNACK),
            (.other, RETRANS_KIND_OTHER)]
        for (kind, code) in codes { #expect(kind.rawValue == UInt8(code.rawValue), "\(kind)") }
        #expect(Exporter.RetransmissionKind(code: 200) == .other)
    }

    @Test func decodesEveryFieldOfAnIPv4Event() throws {
        let bytes = EventBytes.make(
            family: 2, source: [10, 203, 0, 1], destination: [10, 203, 0, 2], sourcePort: 45_678,
            destinationPort: 7101, state: 2, error: -16, timestamp: 0x0102_0304_0506_0708)
        let event = try bytes.withUnsafeBytes { try RetransEvent.decode($0) }
        #expect(event.timestampNanoseconds == 0x0102_0304_0506_0708)
        #expect(event.state == 2)
        #expect(event.error == -16)
        #expect(event.family == 2)
        #expect(event.sourcePort == 45_678)
        #expect(event.destinationPort == 7101)
        #expect(event.sourceAddress.text == "10.203.0.1")
        #expect(event.destinationAddress.text == "10.203.0.2")
        #expect(event.sourceAddress.ipVersion == 4)
    }

    @Test func decodesIPv6AndTreatsV4MappedAsIPv4() throws {
        let v6 = EventBytes.make(
            family: 10, source: EventBytes.address("fd00:203::1"), destination: EventBytes.address("fd00:203::2"),
            sourcePort: 1, destinationPort: 2)
        let event = try v6.withUnsafeBytes { try RetransEvent.decode($0) }
        #expect(event.sourceAddress.text == "fd00:203::1")
        #expect(event.destinationAddress.ipVersion == 6)

        let mapped = EventBytes.make(
            family: 10, source: EventBytes.address("::ffff:192.0.2.7"), destination: [192, 0, 2, 8],
            sourcePort: 1, destinationPort: 2)
        let mappedEvent = try mapped.withUnsafeBytes { try RetransEvent.decode($0) }
        #expect(mappedEvent.sourceAddress.ipVersion == 4)
        #expect(mappedEvent.sourceAddress.text == "192.0.2.7")
    }

    @Test func acceptsPaddedSamples() throws {
        let bytes = EventBytes.make(source: [1, 2, 3, 4], destination: [5, 6, 7, 8], sourcePort: 9,
                                    destinationPort: 10, padding: 4)
        #expect(bytes.count == RetransEvent.Layout.size + 4)
        let event = try bytes.withUnsafeBytes { try RetransEvent.decode($0) }
        #expect(event.destinationAddress.text == "5.6.7.8")
    }

    @Test func rejectsShortRecordsAtEveryLength() {
        let bytes = EventBytes.make(source: [1, 2, 3, 4], destination: [5, 6, 7, 8], sourcePort: 9, destinationPort: 10)
        for length in 0..<RetransEvent.Layout.size {
            #expect(throws: EventDecodeError.truncated(byteCount: length)) {
                try bytes.withUnsafeBytes { try RetransEvent.decode(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            }
        }
    }

    @Test func rejectsUnknownFamily() {
        let bytes = EventBytes.make(family: 7, source: [1, 2, 3, 4], destination: [5, 6, 7, 8], sourcePort: 9,
                                    destinationPort: 10)
        #expect(throws: EventDecodeError.unknownFamily(7)) {
            try bytes.withUnsafeBytes { try RetransEvent.decode($0) }
        }
    }

    @Test func decodeErrorsAreCountedNotFatal() {
        var table = FlowTable(selection: .default, maximumSeries: 10)
        let good = EventBytes.make(source: [1, 2, 3, 4], destination: [5, 6, 7, 8], sourcePort: 9, destinationPort: 10)
        EventBytes.record(good, into: &table)
        EventBytes.record(Array(good[0..<55]), into: &table)
        EventBytes.record([], into: &table)
        EventBytes.record(EventBytes.make(family: 0, source: [1, 2, 3, 4], destination: [5, 6, 7, 8],
                                          sourcePort: 9, destinationPort: 10), into: &table)
        #expect(table.eventsReceived == 4)
        #expect(table.decodeErrors == 3)
        #expect(table.counts == [SeriesCounts(retransmissions: 1, failures: 0)])
    }
}

/// The typed binding checks an object before anything is loaded: the real retrans.o passes;
/// every piece taken away or moved is named in one error.
@Suite struct RetransObjectBindingTests {
    static func retransSpec() throws -> ObjectSpec {
        let bytes = try SystemFile.readBytes(TestPaths.repositoryRoot + "/bpf/retrans.o")
        return try ObjectReader.read(bytes)
    }

    @Test(arguments: [RingTransport.perf, .ringBuffer], [ProgramAttachmentKind.tracepoint, .btf])
    func theBuiltObjectFits(transport: RingTransport, attachment: ProgramAttachmentKind) throws {
        let spec = try Self.retransSpec()
        let choice = RetransObjectBinding.Choice(transport: transport, attachment: attachment)
        try RetransObjectBinding.validate(spec, choice: choice, origin: "bpf/retrans.o")
        #expect(RetransObjectBinding.supports(choice, in: spec))
    }

    @Test func aMovedMemberIsCaughtAgainstTheDecoder() throws {
        var spec = try Self.retransSpec()
        var btf = try #require(spec.btf)
        let index = try #require(btf.types.firstIndex { $0.name == "retrans_event" })
        guard case .structure(let size, var members) = btf.types[index].kind,
              let sport = members.firstIndex(where: { $0.name == "sport" }) else {
            Issue.record("no struct retrans_event with sport in \(btf.types[index])")
            return
        }
        members[sport].bitOffset += 16
        btf.types[index].kind = .structure(size: size + 8, members: members)
        spec.btf = btf
        let error = try #require(throws: BindingError.self) { try RetransObjectBinding.validate(spec, choice: .init(transport: .perf, attachment: .tracepoint), origin: "x.o") }
        #expect(error.problems == [
            "struct retrans_event is \(size + 8) bytes, the decoder reads \(RetransEvent.Layout.size)",
            "struct retrans_event.sport is at byte 20, the decoder reads byte 18",
        ])
    }

    /// `event_timestamps` (run switches the clock read off) is optional, for objects built
    /// before it; when present it must be what the loader writes.
    @Test func theTimestampSwitchIsOptionalButChecked() throws {
        let name = RetransObjectBinding.timestampsConstant
        let choice = RetransObjectBinding.Choice(transport: .ringBuffer, attachment: .btf)
        var spec = try Self.retransSpec()
        #expect(RetransObjectBinding.declaresConstant(spec, named: name), "bpf/retrans.o should declare \(name)")
        let rodata = try #require(spec.maps.firstIndex { $0.name == ".rodata" })
        let variable = try #require(spec.maps[rodata].variables.firstIndex { $0.name == name })

        var resized = spec
        resized.maps[rodata].variables[variable].size = 8
        let error = try #require(throws: BindingError.self) {
            try RetransObjectBinding.validate(resized, choice: choice, origin: "x.o")
        }
        #expect(error.problems == ["`\(name)` must be a 4-byte const in .rodata, is 8 bytes in .rodata"])

        spec.maps[rodata].variables.remove(at: variable)
        #expect(!RetransObjectBinding.declaresConstant(spec, named: name))
        try RetransObjectBinding.validate(spec, choice: choice, origin: "older.o")
    }

    @Test func missingPiecesAreAllNamed() throws {
        var spec = try Self.retransSpec()
        spec.maps.removeAll { $0.name == "stats" || $0.name == ".rodata" }
        spec.programs = []
        spec.btf?.types.removeAll { $0.name == "retrans_event" }
        let error = try #require(throws: BindingError.self) { try RetransObjectBinding.validate(spec, choice: .init(transport: .perf, attachment: .tracepoint), origin: "x.o") }
        #expect(error.problems.count == 4, "\(error)")
        #expect("\(error)".hasPrefix("BPF object x.o does not fit this exporter: no program `tcp_retransmit_skb`"))
        #expect("\(error)".contains("no map `stats`"))
        #expect("\(error)".contains("no global `const volatile __u32 tracepoint_has_err`"))
        #expect("\(error)".contains("no BTF for struct retrans_event"))
    }
}
