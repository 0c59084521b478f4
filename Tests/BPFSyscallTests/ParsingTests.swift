import Testing
import ELFReader
@testable import BPFSyscall

@Suite struct CPUListTests {
    @Test(arguments: [
        ("0", [0]), ("0-1\n", [0, 1]), ("0-1,4", [0, 1, 4]), ("0,2-3,7", [0, 2, 3, 7]), ("3-3", [3]),
    ])
    func parsesKernelLists(text: String, cpus: [Int]) throws {
        #expect(try CPUList(parsing: text).cpus == cpus)
    }

    @Test func slotCountIsHighestPlusOne() throws {
        // A perf event array is indexed by CPU number, so a hole still needs its slot.
        #expect(try CPUList(parsing: "0-1,4").slotCount == 5)
    }

    @Test(arguments: ["", "a", "1-0", "-1", "0-", "0,,1", "0-99999999"])
    func rejectsMalformedLists(text: String) {
        #expect(throws: CPUListError.self) { try CPUList(parsing: text) }
    }

    @Test func readsThisMachine() throws {
        let possible = try CPUList.possible()
        let online = try CPUList.online()
        #expect(!possible.cpus.isEmpty)
        #expect(Set(online.cpus).isSubset(of: Set(possible.cpus)))
    }
}

@Suite struct TracepointFormatTests {
    static let sample = """
        name: tcp_retransmit_skb
        ID: 2281
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        \tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
        \tfield:__u8 saddr_v6[16];\toffset:42;\tsize:16;\tsigned:0;
        \tfield:int err;\toffset:76;\tsize:4;\tsigned:1;

        print fmt: "skbaddr=%p", REC->skbaddr
        """

    @Test func parsesFields() throws {
        let format = try TracepointFormat(parsing: Self.sample)
        #expect(format.name == "tcp_retransmit_skb")
        #expect(format.id == 2281)
        #expect(format.fields.map(\.name) == ["common_type", "common_pid", "skbaddr", "saddr_v6", "err"])
        #expect(format.field(named: "saddr_v6") == .init(name: "saddr_v6", declaration: "__u8 saddr_v6[16]",
                                                          offset: 42, size: 16, isSigned: false))
        #expect(format.field(named: "err")?.isSigned == true)
        #expect(format.hasField("err"))
        #expect(!format.hasField("errno"))
    }

    @Test func olderKernelsWithoutErr() throws {
        let old = Self.sample.split(separator: "\n").filter { !$0.contains(" err;") }.joined(separator: "\n")
        #expect(try !TracepointFormat(parsing: old).hasField("err"))
    }

    @Test func malformedFieldLineIsAnError() {
        #expect(throws: TracepointFormatError.self) {
            try TracepointFormat(parsing: "name: x\nformat:\n\tfield:int a;\tsize:4;\n")
        }
        #expect(throws: TracepointFormatError.self) { try TracepointFormat(parsing: "not a format file") }
    }
}

@Suite struct GlobalConstantsTests {
    let maps = [
        MapSpec(name: "stats", type: .perCPUArray, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0, source: .btf),
        MapSpec(name: ".rodata", type: .array, keySize: 4, valueSize: 12, maxEntries: 1, flags: 0, source: .dataSection,
                initialValue: [1, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9],
                variables: [VariableSpec(name: "tracepoint_has_err", offset: 0, size: 4),
                            VariableSpec(name: "limit", offset: 4, size: 8)]),
    ]

    @Test func patchesTheVariableBytesOnly() throws {
        let patched = try GlobalConstants.apply(["tracepoint_has_err": .u32(0), "limit": .u64(0x0102)], to: maps)
        #expect(patched[1].initialValue == [0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0])
        #expect(patched[0] == maps[0])
    }

    @Test func noConstantsChangesNothing() throws {
        #expect(try GlobalConstants.apply([:], to: maps) == maps)
    }

    @Test func unknownVariableOrWrongWidthIsAnError() {
        #expect(throws: GlobalConstantError(variable: "nope", reason: .notFound(dataSections: [".rodata"]))) {
            try GlobalConstants.apply(["nope": .u32(1)], to: maps)
        }
        #expect(throws: GlobalConstantError(variable: "tracepoint_has_err",
                                            reason: .sizeMismatch(variableSize: 4, valueSize: 8))) {
            try GlobalConstants.apply(["tracepoint_has_err": .u64(1)], to: maps)
        }
    }
}

@Suite struct KernelObjectNameTests {
    @Test func namesAreCutAndCleanedAsTheKernelWants() {
        #expect(MapCreation.kernelObjectName("tcp_retransmit_skb") == "tcp_retransmit_")
        #expect(MapCreation.kernelObjectName(".rodata") == ".rodata")
        #expect(MapCreation.kernelObjectName("a-b/c") == "a_b_c")
    }
}
