import Testing
@testable import ELFReader

@Suite struct BTFTests {
    /// clang's own layout of `struct retrans_event` for the BPF target, read
    /// from BTF: the independent witness of the offsets retrans_event.h
    /// documents (and the Swift decoder relies on). retrans.o itself keeps
    /// the struct only on the stack, which BTF does not describe, so
    /// Fixtures/event_layout.c anchors it as a map value.
    @Test func retransEventLayoutFromBTF() throws {
        let spec = try Fixture.eventLayout.spec()
        let btf = try #require(spec.btf)
        let event = try #require(btf.types.first { $0.name == "retrans_event" })
        guard case .structure(let size, let members) = event.kind else {
            Issue.record("retrans_event is \(event.kind.name), not a STRUCT")
            return
        }
        #expect(size == 72)
        #expect(members.map(\.name) == ["timestamp_ns", "state", "err", "family", "sport", "dport", "segments",
                                         "saddr", "daddr", "netns", "kind", "reserved", "cgroup_id"])
        #expect(members.map { $0.bitOffset / 8 } == [0, 8, 12, 16, 18, 20, 22, 24, 40, 56, 60, 61, 64])
        #expect(members.allSatisfy { $0.bitOffset % 8 == 0 && $0.bitfieldSize == 0 })
        #expect(spec.map(named: "last_event")?.valueSize == 72)
    }

    /// clang leaves DATASEC sizes and variable offsets 0; kernelBytes has them
    /// from the ELF section sizes and symbol values.
    @Test func dataSectionFixups() throws {
        let bytes = try Fixture.retrans.bytes()
        let elf = try ELFFile(bytes)
        let rawBTF = try elf.contents(of: try #require(elf.section(named: ".BTF")))
        let spec = try ObjectReader.read(bytes)
        let btf = try #require(spec.btf)

        func dataSections(_ parsed: BTFSpec) -> [String: (UInt32, [UInt32])] {
            var result: [String: (UInt32, [UInt32])] = [:]
            for type in parsed.types {
                if case .dataSection(let size, let variables) = type.kind { result[type.name] = (size, variables.map(\.offset)) }
            }
            return result
        }
        let before = dataSections(try BTFParser.parse(rawBTF).spec)
        let after = dataSections(try BTFParser.parse(btf.kernelBytes).spec)
        // What clang wrote: all zero.
        #expect(before[".rodata"]?.0 == 0 && before[".maps"]?.0 == 0)
        #expect(before[".maps"]?.1 == [0, 0, 0, 0])
        // What the kernel gets: the section sizes, and each variable at its symbol's value.
        let rodataSymbols = ["tracepoint_has_err", "ring_wakeup_bytes", "retrans_event_layout"]
        let rodataOffsets = try rodataSymbols.map { name in
            UInt32(try #require(spec.symbols.first { $0.name == name }).value)
        }
        #expect(after[".rodata"]?.0 == 24)
        #expect(after[".rodata"]?.1 == rodataOffsets)
        let mapOffsets = try ["events", "ring", "stats", "netns_seen"].map { name in
            UInt32(try #require(spec.symbols.first { $0.name == name }).value)
        }
        #expect(after[".maps"]?.0 == 112)  // netns_seen has map_flags
        #expect(after[".maps"]?.1.sorted() == mapOffsets.sorted())  // the four maps' symbol values
        #expect(after["license"]?.0 == 4)
        // Only those words changed, and the parsed types agree with the bytes.
        #expect(rawBTF.count == btf.kernelBytes.count)
        // One byte each: 24 and its two non-zero offsets (.rodata), 112 and its three (.maps), 4 (license).
        #expect(zip(rawBTF, btf.kernelBytes).filter { $0 != $1 }.count == 8)
        #expect(try BTFParser.parse(btf.kernelBytes).spec.types == btf.types)
    }

    @Test func everyKindOfRetransIsParsedWithNames() throws {
        let btf = try #require(try Fixture.retrans.spec().btf)
        #expect(btf.types.count == 110)  // bpftool btf dump file retrans.o
        #expect(btf.types.first { $0.name == "tcp_retransmit_skb" }?.kind.name == "FUNC")
        let context = try #require(btf.types.first { $0.name == "tcp_retransmit_skb_ctx" })
        if case .structure(let size, let members) = context.kind {
            #expect(size == 80)
            #expect(members.last.map { ($0.name, $0.bitOffset) } ?? ("", 0) == ("err", 608))  // @76
        } else {
            Issue.record("tcp_retransmit_skb_ctx is not a struct")
        }
    }

    /// A hand-built BTF with every kind 1...19, to prove each decodes.
    @Test func allNineteenKinds() throws {
        var builder = BTFBuilder()
        let int = builder.add(name: "int", info: 1 << 24, sizeOrType: 4, extra: [0x0100_0020])       // 1 INT signed 32
        _ = builder.add(name: "", info: 2 << 24, sizeOrType: int)                                  // 2 PTR
        _ = builder.add(name: "", info: 3 << 24, sizeOrType: 0, extra: [int, int, 7])              // 3 ARRAY
        let member = builder.string("a")
        _ = builder.add(name: "s", info: 4 << 24 | 1 << 31 | 1, sizeOrType: 4, extra: [member, int, 3 << 24 | 5]) // 4 STRUCT bitfield
        _ = builder.add(name: "u", info: 5 << 24 | 1, sizeOrType: 4, extra: [member, int, 0])     // 5 UNION
        _ = builder.add(name: "e", info: 6 << 24 | 1 << 31 | 1, sizeOrType: 4, extra: [member, 0xffff_ffff]) // 6 ENUM signed -1
        _ = builder.add(name: "f", info: 7 << 24 | 1 << 31, sizeOrType: 0)                         // 7 FWD union
        _ = builder.add(name: "t", info: 8 << 24, sizeOrType: int)                                 // 8 TYPEDEF
        _ = builder.add(name: "", info: 9 << 24, sizeOrType: int)                                  // 9 VOLATILE
        _ = builder.add(name: "", info: 10 << 24, sizeOrType: int)                                 // 10 CONST
        _ = builder.add(name: "", info: 11 << 24, sizeOrType: 2)                                   // 11 RESTRICT
        _ = builder.add(name: "", info: 13 << 24 | 1, sizeOrType: int, extra: [member, int])       // 12 FUNC_PROTO
        _ = builder.add(name: "fn", info: 12 << 24 | 1, sizeOrType: 12)                           // 13 FUNC global
        _ = builder.add(name: "v", info: 14 << 24, sizeOrType: int, extra: [1])                    // 14 VAR
        _ = builder.add(name: ".data", info: 15 << 24 | 1, sizeOrType: 0, extra: [14, 0, 4])      // 15 DATASEC
        _ = builder.add(name: "double", info: 16 << 24, sizeOrType: 8)                             // 16 FLOAT
        _ = builder.add(name: "tag", info: 17 << 24, sizeOrType: 14, extra: [0xffff_ffff])         // 17 DECL_TAG -1
        _ = builder.add(name: "user", info: 18 << 24, sizeOrType: int)                             // 18 TYPE_TAG
        _ = builder.add(name: "e64", info: 19 << 24 | 1, sizeOrType: 8, extra: [member, 0, 0x8000_0000]) // 19 ENUM64
        let parsed = try BTFParser.parse(builder.bytes()).spec
        #expect(parsed.types.map { $0.kind.number } == Array(1...19).map { $0 == 12 ? 13 : $0 == 13 ? 12 : $0 })
        #expect(parsed.types[0].kind == .int(size: 4, encoding: 1, bitOffset: 0, bits: 32))
        #expect(parsed.types[3].kind == .structure(size: 4, members: [BTFMember(name: "a", typeID: 1, bitOffset: 5, bitfieldSize: 3)]))
        #expect(parsed.types[5].kind == .enumeration(size: 4, signed: true, values: [BTFEnumValue(name: "a", value: -1)]))
        #expect(parsed.types[16].kind == .declTag(typeID: 14, componentIndex: -1))
        #expect(parsed.types[18].kind == .enumeration64(size: 8, signed: false, values: [BTFEnumValue(name: "a", value: Int64(bitPattern: 0x8000_0000_0000_0000))]))
        let resolver = BTFTypeResolver(spec: parsed)
        #expect(try resolver.size(of: 3) == 28)   // int[7]
        #expect(try resolver.size(of: 8) == 4)    // typedef int
        #expect(try resolver.skippingQualifiers(10).name == "int")
    }

    /// A typedef loop must end in an error, not a stack overflow.
    @Test func typedefLoopHitsTheDepthCap() throws {
        var builder = BTFBuilder()
        _ = builder.add(name: "a", info: 8 << 24, sizeOrType: 2)  // 1: typedef a -> 2
        _ = builder.add(name: "b", info: 8 << 24, sizeOrType: 1)  // 2: typedef b -> 1
        _ = builder.add(name: "", info: 3 << 24, sizeOrType: 0, extra: [3, 1, 2])  // 3: array of itself
        let parsed = try BTFParser.parse(builder.bytes())
        let resolver = BTFTypeResolver(spec: parsed.spec, recordOffsets: parsed.recordOffsets)
        for (id, call) in [(UInt32(1), "size"), (1, "skip"), (3, "size")] {
            do {
                if call == "size" { _ = try resolver.size(of: id) } else { _ = try resolver.skippingQualifiers(id) }
                Issue.record("type \(id) resolved through a loop")
            } catch {
                #expect(error.section == ".BTF")
                #expect(error.reason.contains("deeper than 32"))
            }
        }
    }

    /// The same loop inside a real object: stats' key type `__u32` made to
    /// name itself. The reader reports it instead of recursing forever.
    @Test func typedefLoopInAMapDefinitionIsAnError() throws {
        var bytes = try Fixture.retrans.bytes()
        let elf = try ELFFile(bytes)
        let section = try #require(elf.section(named: ".BTF"))
        let parsed = try BTFParser.parse(try elf.contents(of: section))
        let typedef = try #require(parsed.spec.types.first { $0.name == "__u32" })
        // The typedef's "type" word is the third u32 of its record.
        let position = Int(section.offset) + parsed.recordOffsets[Int(typedef.id) - 1] + 8
        for shift in 0..<4 { bytes[position + shift] = UInt8(truncatingIfNeeded: typedef.id >> (8 * UInt32(shift))) }
        #expect {
            try ObjectReader.read(bytes)
        } throws: { error in
            guard let error = error as? ObjectReadError else { return false }
            return error.section == ".BTF" && error.reason.contains("deeper than 32")
        }
    }
}

/// Assembles a `.BTF` section from raw type records, for synthetic tests.
struct BTFBuilder {
    private var types: [UInt8] = []
    private var strings: [UInt8] = [0]
    private var count: UInt32 = 0

    mutating func string(_ text: String) -> UInt32 {
        let offset = UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        return offset
    }

    @discardableResult
    mutating func add(name: String, info: UInt32, sizeOrType: UInt32, extra: [UInt32] = []) -> UInt32 {
        let nameOffset = name.isEmpty ? 0 : string(name)
        for word in [nameOffset, info, sizeOrType] + extra { types += Self.le(word) }
        count += 1
        return count  // the new type's id
    }

    func bytes() -> [UInt8] {
        let header: [UInt32] = [24, 0, UInt32(types.count), UInt32(types.count), UInt32(strings.count)]
        return [0x9f, 0xeb, 1, 0] + header.flatMap(Self.le) + types + strings
    }

    static func le(_ word: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
}
