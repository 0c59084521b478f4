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
        #expect(btf.own.checkpoints.count == 4)
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
