import Foundation
import Testing
@testable import ELFReader

/// The kernel BTF index: one walk, checkpoints every 32 records, names looked up on the way.
@Suite struct KernelBTFIndexTests {
    static let s32 = BTFKind.int(size: 4, encoding: 1, bitOffset: 0, bits: 32)

    /// 100 types of mixed lengths: every id decodes, through the checkpoints, as the object parser decodes it.
    @Test func everyTypeDecodesFromItsCheckpoint() throws {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", Self.s32)
        for index in 0..<99 {
            switch index % 4 {
            case 0: builder.add("s\(index)", .structure(size: 8, members: members([("a", int, 0), ("b", int, 32)])))
            case 1: builder.add("t\(index)", .typedef(typeID: int))
            case 2: builder.add("e\(index)", .enumeration(size: 4, signed: false, values: [BTFEnumValue(name: "V\(index)", value: 1)]))
            default: builder.add("", .array(elementTypeID: int, indexTypeID: int, count: UInt32(index)))
            }
        }
        let bytes = builder.bytes()
        let expected = try BTFParser.parse(bytes).spec.types
        let btf = try KernelBTF(vmlinux: bytes)
        #expect(btf.typeCount == 101)
        #expect(btf.own.checkpoints.head.count == 4)
        for type in expected { #expect(try btf.type(type.id) == type) }
        #expect(throws: ObjectReadError.self) { try btf.type(101) }
    }

    /// A table built while indexing answers as a later walk does, flavors and ENUM64 included.
    @Test func indexedCandidatesEqualWalkedCandidates() throws {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", Self.s32)
        builder.add("sock", .structure(size: 4, members: members([("a", int, 0)])))
        builder.add("sock", .typedef(typeID: 2))
        builder.add("sock___v2", .structure(size: 4, members: members([("a", int, 0)])))
        builder.add("sockets", .structure(size: 4, members: members([("a", int, 0)])))
        builder.add("soc", .structure(size: 4, members: members([("a", int, 0)])))
        builder.add("state", .enumeration64(size: 8, signed: false, values: [BTFEnumValue(name: "A", value: 1)]))
        builder.add("btf_trace_x", .typedef(typeID: int))
        let bytes = builder.bytes()
        let keys: Set<KernelBTF.CandidateKey> = [
            KernelBTF.CandidateKey(kindNumber: 4, name: "sock___local"),
            KernelBTF.CandidateKey(kindNumber: 6, name: "state"),
            KernelBTF.CandidateKey(kindNumber: 8, name: "btf_trace_x"),
            KernelBTF.CandidateKey(kindNumber: 4, name: "absent"),
        ]
        let indexed = try KernelBTF(vmlinux: bytes, indexing: keys)
        let walked = try KernelBTF(vmlinux: bytes)
        let expected: [KernelBTF.CandidateKey: [UInt32]] = [
            KernelBTF.CandidateKey(kindClass: 4, essentialName: "sock"): [2, 4],
            KernelBTF.CandidateKey(kindClass: 6, essentialName: "state"): [7],
            KernelBTF.CandidateKey(kindClass: 8, essentialName: "btf_trace_x"): [8],
        ]
        #expect(try indexed.candidates(for: keys) == expected)
        #expect(try walked.candidates(for: keys) == expected)
        // A key the index was not given is still found (by a walk).
        let other: Set = [KernelBTF.CandidateKey(kindNumber: 4, name: "soc")]
        #expect(try indexed.candidates(for: other) == [KernelBTF.CandidateKey(kindClass: 4, essentialName: "soc"): [6]])
        #expect(try indexed.typeIDs(named: "btf_trace_x", kindNumber: 8) == [8])
    }

    /// A module's names may lie in vmlinux's strings; the index finds them there.
    @Test func splitBTFIndexesNamesInTheBaseStrings() throws {
        var base = BTFTypeBuilder()
        base.add("int", Self.s32)
        base.add("nf_conn", .forward(isUnion: false))
        let baseBytes = base.bytes()
        let vmlinux = try KernelBTF(vmlinux: baseBytes)
        let baseStrings = Int(UInt32(baseBytes[20]) | UInt32(baseBytes[21]) << 8 | UInt32(baseBytes[22]) << 16 | UInt32(baseBytes[23]) << 24)
        var module = BTFTypeBuilder(firstID: 3, stringBase: baseStrings)
        module.add("nf_conn", .structure(size: 4, members: members([("mark", 1, 0)])))
        var moduleBytes = module.bytes()
        // Point the module's struct name at vmlinux's copy of "nf_conn" (offset 5: after "\0int\0").
        let headerLength = 24, typeOffset = Int(moduleBytes[8])
        moduleBytes.replaceSubrange(headerLength + typeOffset ..< headerLength + typeOffset + 4, with: [5, 0, 0, 0])
        let key = KernelBTF.CandidateKey(kindNumber: 4, name: "nf_conn")
        let split = try KernelBTF(module: "nf_conntrack", bytes: moduleBytes, base: vmlinux, indexing: [key])
        #expect(try split.candidates(for: [key]) == [key: [3]])
        #expect(try split.type(3)?.name == "nf_conn")
        #expect(try split.type(2)?.kind == .forward(isUnion: false))
        #expect(throws: ObjectReadError.self) { try KernelBTF(module: "m2", bytes: moduleBytes, base: split) }
    }

    /// A name running off the string table is an error when compared, never a read past the end.
    @Test func unterminatedNameIsAnError() throws {
        var builder = BTFTypeBuilder()
        builder.add("sock", .structure(size: 0, members: []))
        var bytes = builder.bytes()
        bytes.removeLast()  // the string table's last NUL: "sock" now runs to the end of the bytes
        bytes[20] -= 1      // str_len
        let key = KernelBTF.CandidateKey(kindNumber: 4, name: "sock")
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: bytes, indexing: [key]) }
        let btf = try KernelBTF(vmlinux: bytes)
        #expect(throws: ObjectReadError.self) { try btf.candidates(for: [key]) }
        #expect(throws: ObjectReadError.self) { try btf.type(1) }
    }

    /// What the walk must find, by brute force: every named type whose kind class and
    /// essential name are the key's (ENUM64 searched as ENUM), from the object parser's decoding.
    static func expectedCandidates(_ bytes: [UInt8], _ keys: Set<KernelBTF.CandidateKey>) throws -> [KernelBTF.CandidateKey: [UInt32]] {
        var expected: [KernelBTF.CandidateKey: [UInt32]] = [:]
        for type in try BTFParser.parse(bytes).spec.types where !type.name.isEmpty {
            let key = KernelBTF.CandidateKey(kindNumber: type.kind.number, name: type.name)
            if keys.contains(key) { expected[key, default: []].append(type.id) }
        }
        return expected
    }

    /// Names that share prefixes with the keys, are longer or shorter than them, carry flavors
    /// (`sock___v2`), look like flavors but are not (`sock___`, `sock____x`), or differ only at the
    /// key's last byte; one-byte keys; two keys in one (first byte, second byte) bucket.
    @Test func namesNearTheKeysMatchAsLibbpfMatchesThem() throws {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", Self.s32)
        let names = ["sock", "sock___v2", "sock___v2___v3", "sock___", "sock____x", "sock_common", "sock_commoN", "soc",
                     "sockets", "sock__v2", "s", "s___1", "s_", "sa", "so", "sk_buff", "sk_buff___old", "sk_bufg", "sk",
                     "sock___v2_", "sock___\u{e9}", "x", "x___y"]
        for name in names {
            builder.add(name, .structure(size: 4, members: members([("a", int, 0)])))
            builder.add(name, .typedef(typeID: int))
            builder.add(name, .function(protoTypeID: 0, linkage: 1))
        }
        builder.add("sock", .enumeration64(size: 8, signed: false, values: [BTFEnumValue(name: "A", value: 1)]))
        let bytes = builder.bytes()
        let keys: Set<KernelBTF.CandidateKey> = [
            .init(kindNumber: 4, name: "sock"), .init(kindNumber: 4, name: "sock_common"), .init(kindNumber: 4, name: "s"),
            .init(kindNumber: 4, name: "sk_buff___local"), .init(kindNumber: 4, name: "sk"), .init(kindNumber: 4, name: "so"),
            .init(kindNumber: 8, name: "sock"), .init(kindNumber: 12, name: "x"), .init(kindNumber: 6, name: "sock"),
            .init(kindNumber: 4, name: "sock___v2"), .init(kindNumber: 4, name: "absent"),
        ]
        let expected = try Self.expectedCandidates(bytes, keys)
        #expect(expected[.init(kindNumber: 4, name: "sock")]?.count == 4)  // sock, sock___v2, sock___v2_, sock___é
        let indexed = try KernelBTF(vmlinux: bytes, indexing: keys)
        #expect(try indexed.candidates(for: keys) == expected)
        #expect(try KernelBTF(vmlinux: bytes).candidates(for: keys) == expected)
    }

    /// Many names sharing a key's first byte (the kernel's 56,000 functions, thousands of them
    /// `bpf_*`, for `bpf_iter_task`), across kinds, with pseudo-random names from a small alphabet
    /// so that prefixes, flavors and buckets collide often.
    @Test func crowdedFirstBytesMatchTheBruteForce() throws {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", Self.s32)
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33) % bound
        }
        let alphabet = Array("bpf_it".utf8)
        var names: [String] = []
        for index in 0..<3000 {
            let length = 1 + next(12)
            var name = String(decoding: (0..<length).map { _ in alphabet[next(alphabet.count)] }, as: UTF8.self)
            if index % 7 == 0 { name += "___v\(next(3))" }
            if index % 11 == 0 { name = "bpf_iter_tas" + String(decoding: [alphabet[next(alphabet.count)]], as: UTF8.self) }
            names.append(name)
            switch index % 3 {
            case 0: builder.add(name, .function(protoTypeID: 0, linkage: 1))
            case 1: builder.add(name, .structure(size: 4, members: members([("a", int, 0)])))
            default: builder.add(name, .typedef(typeID: int))
            }
        }
        builder.add("bpf_iter_task", .function(protoTypeID: 0, linkage: 1))
        let bytes = builder.bytes()
        var keys: Set<KernelBTF.CandidateKey> = [.init(kindNumber: 12, name: "bpf_iter_task"), .init(kindNumber: 12, name: "b")]
        for index in stride(from: 0, to: names.count, by: 97) {
            keys.insert(.init(kindNumber: [12, 4, 8][index % 3], name: names[index]))
        }
        let expected = try Self.expectedCandidates(bytes, keys)
        #expect(expected[.init(kindNumber: 12, name: "bpf_iter_task")]?.count ?? 0 >= 1)
        #expect(try KernelBTF(vmlinux: bytes, indexing: keys).candidates(for: keys) == expected)
        #expect(try KernelBTF(vmlinux: bytes).candidates(for: keys) == expected)
    }

    /// A name at the very end of the string table (its NUL cut off) is an error when a key of its
    /// kind could match it (and is compared); otherwise it is never read past.
    @Test func nameEndingWithTheTableIsAnErrorOnlyWhenCompared() throws {
        var builder = BTFTypeBuilder()
        builder.add("s", .structure(size: 0, members: []))
        var bytes = builder.bytes()
        bytes.removeLast()  // the table is now "\0s": the name runs off its end
        bytes[20] -= 1      // str_len
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 4, name: "s")]) }
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 4, name: "sock")]) }
        let otherByte = try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 4, name: "t")])
        #expect(try otherByte.candidates(for: [.init(kindNumber: 4, name: "t")]).isEmpty)
        let otherKind = try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 8, name: "s")])
        #expect(try otherKind.candidates(for: [.init(kindNumber: 8, name: "s")]).isEmpty)
        #expect(throws: ObjectReadError.self) { try otherKind.type(1) }

        // Longer, "sa" without its NUL: a one-byte key "s" reads it to its end, and fails there.
        var longer = BTFTypeBuilder()
        longer.add("sa", .structure(size: 0, members: []))
        var longerBytes = longer.bytes()
        longerBytes.removeLast()
        longerBytes[20] -= 1
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: longerBytes, indexing: [.init(kindNumber: 4, name: "s")]) }
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: longerBytes, indexing: [.init(kindNumber: 4, name: "sa")]) }
        #expect(try KernelBTF(vmlinux: longerBytes, indexing: [.init(kindNumber: 4, name: "sb")])
            .candidates(for: [.init(kindNumber: 4, name: "sb")]).isEmpty)
    }

    /// A wanted kind's name offset outside the string section is an error naming it; an unwanted
    /// kind's is left to `type(_:)`, which reports it when decoding.
    @Test func nameOutsideTheStringsIsAnError() throws {
        var builder = BTFTypeBuilder()
        builder.add("sock", .structure(size: 0, members: []))
        var bytes = builder.bytes()
        bytes.replaceSubrange(24 ..< 28, with: [0xff, 0xff, 0xff, 0x7f])  // the struct's name_off
        let error = #expect(throws: ObjectReadError.self) {
            try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 4, name: "sock")])
        }
        #expect(error?.description.contains("outside the string sections") == true)
        let unwanted = try KernelBTF(vmlinux: bytes, indexing: [.init(kindNumber: 8, name: "sock")])
        #expect(throws: ObjectReadError.self) { try unwanted.type(1) }
    }

    /// Names that are not UTF-8 decode as the object parser decodes them (repaired, not rejected).
    @Test func invalidUTF8NamesDecodeAsTheParserDecodesThem() throws {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", Self.s32)
        builder.add("sock", .structure(size: 8, members: members([("ab", int, 0), ("cd", int, 32)])))
        var bytes = builder.bytes()
        let strings = bytes.count - 16  // "\0int\0sock\0ab\0cd\0": 16 bytes
        bytes[strings + 5] = 0xff       // "s" of sock
        bytes[strings + 10] = 0xc3      // "a" of ab: a two-byte sequence cut short
        let expected = try BTFParser.parse(bytes).spec.types
        let btf = try KernelBTF(vmlinux: bytes)
        for type in expected { #expect(try btf.type(type.id) == type) }
        #expect(try btf.type(2)?.name == "\u{fffd}ock")
    }

    /// On this machine's kernel: the indexed table is what a walk finds.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"), "no /sys/kernel/btf/vmlinux"))
    func indexMatchesWalkOnThisKernel() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux")))
        let keys: Set<KernelBTF.CandidateKey> = Set(["sock", "sk_buff", "net", "sock_common", "inet_sock"].map {
            KernelBTF.CandidateKey(kindNumber: 4, name: $0) } + [KernelBTF.CandidateKey(kindNumber: 8, name: "btf_trace_tcp_retransmit_skb")])
        let indexed = try KernelBTF(vmlinux: bytes, indexing: keys)
        let walked = try KernelBTF(vmlinux: bytes)
        let found = try indexed.candidates(for: keys)
        #expect(found == (try walked.candidates(for: keys)))
        #expect(found[KernelBTF.CandidateKey(kindNumber: 4, name: "sock")]?.count == 1)
        for ids in found.values { for id in ids { #expect(try indexed.type(id) == walked.type(id)) } }
    }
}
