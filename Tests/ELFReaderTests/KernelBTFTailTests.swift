import Foundation
import Testing
@testable import ELFReader

/// vmlinux's walk in two halves (`KernelBTF+Tail.swift`): whatever offset the second walker
/// starts from, and whatever it meets, the index is the one walk's.
@Suite struct KernelBTFTailTests {
    static let s32 = BTFKind.int(size: 4, encoding: 1, bitOffset: 0, bits: 32)

    /// ~1,200 records of every length the walk meets: FUNC and FUNC_PROTO interleaved as in
    /// vmlinux, structs, enums, arrays, typedefs, and names the keys ask for spread through it.
    static func syntheticKernel() -> [UInt8] {
        var builder = BTFTypeBuilder()
        let int = builder.add("int", s32)
        for index in 0 ..< 300 {
            let proto = builder.add("", .functionProto(returnTypeID: int, parameters: (0 ..< index % 4).map {
                BTFParameter(name: "p\($0)", typeID: int) }))
            builder.add(index % 7 == 0 ? "bpf_iter_task" : "fn\(index)", .function(protoTypeID: proto, linkage: UInt32(index % 3)))
            switch index % 5 {
            case 0: builder.add(index % 50 == 0 ? "sock" : "s\(index)", .structure(size: 8, members: members([("a", int, 0), ("b", int, 32)])))
            case 1: builder.add("", .pointer(typeID: int))
            case 2: builder.add("e\(index)", .enumeration(size: 4, signed: false, values: [BTFEnumValue(name: "V\(index)", value: 1)]))
            case 3: builder.add("", .array(elementTypeID: int, indexTypeID: int, count: UInt32(index)))
            default: builder.add(index % 60 == 4 ? "btf_trace_x" : "t\(index)", .typedef(typeID: int))
            }
        }
        return builder.bytes()
    }

    static let keys: Set<KernelBTF.CandidateKey> = [
        KernelBTF.CandidateKey(kindNumber: 4, name: "sock"),
        KernelBTF.CandidateKey(kindNumber: 8, name: "btf_trace_x"),
        KernelBTF.CandidateKey(kindNumber: 12, name: "bpf_iter_task"),
    ]

    /// The offset of every record, from the header's type section.
    static func recordOffsets(_ bytes: [UInt8]) throws -> (offsets: [Int], sections: KernelBTF.Sections) {
        let sections = try bytes.withSpan { (span: Span<UInt8>) throws(ObjectReadError) -> KernelBTF.Sections in
            try KernelBTF.sections(of: span, context: "test", stringBase: 0)
        }
        var offsets: [Int] = []
        var position = sections.typeStart
        while position < sections.typeEnd {
            offsets.append(position)
            let info = bytes.withSpan { $0.littleEndianU32(at: position + 4) }
            position += try #require(KernelBTF.recordLength(info: info))
        }
        return (offsets, sections)
    }

    /// Indexes `bytes` with a tail walked (here, on this thread) from `start`.
    static func splitIndex(_ bytes: [UInt8], tailFrom start: Int, keys: Set<KernelBTF.CandidateKey> = keys,
                           tailKeys: Set<KernelBTF.CandidateKey>? = nil) throws -> KernelBTF {
        let tail = KernelBTF.walkTail(vmlinux: bytes, from: start, indexing: tailKeys ?? keys)
        return try KernelBTF(vmlinux: bytes, indexing: keys, joining: KernelBTF.TailHandle(start: start) { tail })
    }

    static func expectSameIndex(_ split: KernelBTF, _ whole: KernelBTF, _ note: String) throws {
        #expect(split.typeCount == whole.typeCount, "\(note)")
        #expect(try split.candidates(for: keys) == whole.candidates(for: keys), "\(note)")
        for id in stride(from: UInt32(1), to: UInt32(whole.typeCount), by: 7) {
            guard try split.type(id) == whole.type(id) else {
                Issue.record("\(note): type \(id) decodes differently")
                return
            }
        }
    }

    /// From every record boundary in the middle third the tail's records are taken; from every
    /// other 4-byte offset there the first walk walks on. The index is the same either way.
    @Test func everyStartGivesTheOneWalksIndex() throws {
        let bytes = Self.syntheticKernel()
        let whole = try KernelBTF(vmlinux: bytes, indexing: Self.keys)
        #expect(whole.own.checkpoints.tailFirstIndex == Int.max)
        let (offsets, sections) = try Self.recordOffsets(bytes)
        let boundaries = Set(offsets)
        // 1,024 bytes from the middle: every 4-byte offset (record offsets are the section's plus a multiple of 4).
        let middle = sections.typeStart + (sections.typeEnd - sections.typeStart) / 8 * 4
        var joined = 0, walkedOn = 0
        for start in stride(from: middle, to: middle + 1024, by: 4) {
            let split = try Self.splitIndex(bytes, tailFrom: start)
            let usedTail = split.own.checkpoints.tailFirstIndex != Int.max
            #expect(usedTail == boundaries.contains(start), "start \(start)")
            if usedTail {
                joined += 1
                #expect(offsets[split.own.checkpoints.tailFirstIndex] == start)
            } else {
                walkedOn += 1
            }
            try Self.expectSameIndex(split, whole, "start \(start)")
        }
        #expect(joined > 30 && walkedOn > 100, "joined \(joined), walked on \(walkedOn)")
    }

    /// The start `tailStart` picks is a record boundary, and the split index uses it.
    @Test func chosenStartIsARecordBoundary() throws {
        let bytes = Self.syntheticKernel()
        let start = try #require(KernelBTF.tailStart(vmlinux: bytes, minimumTypeBytes: 0))
        let (offsets, sections) = try Self.recordOffsets(bytes)
        #expect(offsets.contains(start))
        #expect(start >= sections.typeStart + (sections.typeEnd - sections.typeStart) / 2 - 4)
        let split = try Self.splitIndex(bytes, tailFrom: start)
        #expect(split.own.checkpoints.tailFirstIndex != Int.max)
        try Self.expectSameIndex(split, try KernelBTF(vmlinux: bytes, indexing: Self.keys), "chosen start")
        // Too small to be worth a second thread, by default.
        #expect(KernelBTF.tailStart(vmlinux: bytes) == nil)
        #expect(KernelBTF.tailStart(vmlinux: [UInt8](repeating: 0, count: 64), minimumTypeBytes: 0) == nil)
    }

    /// A tail walked for other keys, or one that never finished, is not used.
    @Test func tailForOtherKeysOrMissingIsWalkedAgain() throws {
        let bytes = Self.syntheticKernel()
        let whole = try KernelBTF(vmlinux: bytes, indexing: Self.keys)
        let start = try #require(KernelBTF.tailStart(vmlinux: bytes, minimumTypeBytes: 0))
        let otherKeys = try Self.splitIndex(bytes, tailFrom: start, tailKeys: [KernelBTF.CandidateKey(kindNumber: 4, name: "sock")])
        #expect(otherKeys.own.checkpoints.tailFirstIndex == Int.max)
        try Self.expectSameIndex(otherKeys, whole, "other keys")
        let missing = try KernelBTF(vmlinux: bytes, indexing: Self.keys, joining: KernelBTF.TailHandle(start: start) { nil })
        #expect(missing.own.checkpoints.tailFirstIndex == Int.max)
        try Self.expectSameIndex(missing, whole, "missing tail")
    }

    /// A malformed record past the split throws what the one walk throws (its true id), whether
    /// the tail met it or not.
    @Test func malformedRecordInTheTailThrowsTheOneWalksError() throws {
        var bytes = Self.syntheticKernel()
        let (offsets, _) = try Self.recordOffsets(bytes)
        let bad = offsets[offsets.count * 3 / 4]
        bytes[bad + 7] = 0x1f  // kind 31: unknown
        let expected = #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: bytes, indexing: Self.keys) }
        let start = offsets[offsets.count / 2]
        let tail = KernelBTF.walkTail(vmlinux: bytes, from: start, indexing: Self.keys)
        #expect(throws: ObjectReadError.self) { try tail.outcome.get() }
        let split = #expect(throws: ObjectReadError.self) { try Self.splitIndex(bytes, tailFrom: start) }
        #expect(split?.description == expected?.description)
        #expect(expected?.description.contains("type \(offsets.count * 3 / 4 + 1)") == true, "\(String(describing: expected))")
    }

    /// On this machine's kernel: a start is found, the tail is used, and the index is the one walk's.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"), "no /sys/kernel/btf/vmlinux"))
    func splitMatchesTheOneWalkOnThisKernel() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux")))
        let keys: Set<KernelBTF.CandidateKey> = Set(["sock", "sk_buff", "net", "sock_common", "inet_sock"].map {
            KernelBTF.CandidateKey(kindNumber: 4, name: $0) } + [KernelBTF.CandidateKey(kindNumber: 8, name: "btf_trace_tcp_retransmit_skb"),
                                                                KernelBTF.CandidateKey(kindNumber: 12, name: "bpf_iter_task")])
        let start = try #require(KernelBTF.tailStart(vmlinux: bytes))
        let split = try Self.splitIndex(bytes, tailFrom: start, keys: keys)
        let whole = try KernelBTF(vmlinux: bytes, indexing: keys)
        #expect(split.own.checkpoints.tailFirstIndex != Int.max)
        #expect(split.typeCount == whole.typeCount)
        let found = try split.candidates(for: keys)
        #expect(found == (try whole.candidates(for: keys)))
        #expect(found.count == keys.count)
        for ids in found.values { for id in ids { #expect(try split.type(id) == whole.type(id)) } }
        // Ids on both sides of the split decode alike.
        let tailFirstID = UInt32(split.own.checkpoints.tailFirstIndex + 1)
        for id in [1, tailFirstID - 1, tailFirstID, tailFirstID + 31, tailFirstID + 32, UInt32(whole.typeCount - 1)] {
            #expect(try split.type(id) == whole.type(id), "type \(id)")
        }
    }
}
