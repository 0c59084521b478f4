import Foundation
import KernelTestSupport
import Testing
import ELFReader
@testable import Exporter

/// `retrans-exporter inspect`: its JSON (checked with Foundation's parser as
/// the independent reader), its text, and the binary's exit codes.
@Suite struct InspectCommandTests {
    static let packageRoot = URL(fileURLWithPath: TestPaths.repositoryRoot)
    static let fixtures = packageRoot.appendingPathComponent("Tests/ELFReaderTests/Fixtures")
    static let binary = TestPaths.exporterBinary

    static func object(_ name: String) throws -> ObjectSpec {
        try ObjectReader.read([UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))))
    }

    @Test(arguments: ["plain", "quote \" backslash \\ slash /", "line\nbreak\ttab\r", "\u{01}\u{1f}\u{7f}", "é ✓ 𝄞", ""])
    func jsonStringsRoundTrip(_ text: String) throws {
        let rendered = JSONValue.array([.string(text)]).rendered()
        let parsed = try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String]
        #expect(parsed == [text])
        #expect(!rendered.contains("\u{01}") && !rendered.dropLast().contains("\n\t"))
    }

    @Test func jsonOfRetransParsesAndSaysWhatTheObjectHolds() throws {
        let object = try Self.object("retrans.o")
        let text = InspectJSON.render(object, file: "retrans.o", disassemble: true)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(json["schema_version"] as? Int == 1)
        #expect(json["license"] as? String == "GPL")
        let programs = try #require(json["programs"] as? [[String: Any]])
        #expect(programs.map { $0["name"] as? String }
                == ["tcp_retransmit_skb", "tcp_retransmit_skb_rb", "tcp_retransmit_btf", "tcp_retransmit_btf_rb",
                    "tcp_retransmit_synack_btf", "tcp_retransmit_synack_btf_rb", "netns_tasks"])
        #expect(programs.first?["kind"] as? String == "tracepoint")
        #expect((programs.first?["attach"] as? [String: String]) == ["category": "tcp", "name": "tcp_retransmit_skb"])
        #expect(programs.first?["instructions"] as? Int == 64)
        #expect(programs[2]["kind"] as? String == "tracing")
        #expect((programs[2]["attach"] as? [String: String]) == ["type": "tp_btf", "target": "tcp_retransmit_skb"])
        let listing = try #require(programs.first?["disassembly"] as? [[String: Any]])
        #expect(listing.contains { $0["kind"] as? String == "instruction" && $0["index"] as? Int == 35
                                   && $0["text"] as? String == "r2 = map[events] ll" })
        #expect(listing.contains { $0["kind"] as? String == "source" && ($0["text"] as? String)?.contains("ctx->state") == true })

        let maps = try #require(json["maps"] as? [[String: Any]])
        #expect(maps.map { $0["name"] as? String } == ["ring", "netns_seen", "events", "stats", ".rodata"])
        #expect(maps.first?["type"] as? String == "RINGBUF")
        #expect(maps[2]["max_entries"] as? Int == 0)
        #expect(maps.last?["flag_names"] as? [String] == ["RDONLY_PROG"])

        let relocations = try #require(json["relocations"] as? [[String: Any]])
        #expect(relocations.contains { $0["instruction"] as? Int == 35 && $0["kind"] as? String == "map"
                                       && $0["target"] as? String == "events" })
        #expect(relocations.contains { $0["kind"] as? String == "map_value" && $0["target"] as? String == ".rodata"
                                       && $0["offset"] as? Int == 0 })

        let btf = try #require(json["btf"] as? [String: Any])
        let kinds = try #require(btf["kinds"] as? [String: Int])
        #expect(kinds.values.reduce(0, +) == btf["types"] as? Int)
        #expect(kinds["DATASEC"] == 3)
    }

    @Test func jsonKeepsKeysInDocumentedOrder() throws {
        let text = InspectJSON.render(try Self.object("multi.o"), file: "multi.o", disassemble: false)
        // Top-level keys are the ones indented by exactly two spaces.
        let topKeys = ["schema_version", "file", "license", "kernel_version", "programs", "maps", "relocations", "btf"]
            .map { "\n  \"\($0)\": " }
        let positions = topKeys.compactMap { text.range(of: $0)?.lowerBound }
        #expect(positions.count == topKeys.count)
        #expect(positions == positions.sorted())
        #expect(InspectJSON.render(try Self.object("multi.o"), file: "multi.o", disassemble: false) == text)
    }

    @Test func textShowsProgramsMapsRelocationsAndBTF() throws {
        let text = InspectText.render(try Self.object("retrans.o"), file: "retrans.o", disassemble: false)
        #expect(text.contains("license \"GPL\""))
        #expect(text.contains("attach point  tracepoint tcp:tcp_retransmit_skb (BPF_PROG_TYPE_TRACEPOINT)"))
        #expect(text.contains("attach point  tp_btf tcp_retransmit_skb (BPF_PROG_TYPE_TRACING)"))
        #expect(text.contains("instructions  64\n"))
        #expect(text.contains("  events      PERF_EVENT_ARRAY    4      4            0  0x0                 btf\n"))
        #expect(text.contains("attach point  iter task (BPF_PROG_TYPE_TRACING)"))
        #expect(text.contains("  tcp_retransmit_skb              35  map        events\n"))
        #expect(text.contains("110 types"))
        #expect(!text.contains("Disassembly"))
    }

    // MARK: - The binary

    private func run(_ arguments: [String]) throws -> CommandResult {
        try Command.run([try #require(Self.binary)] + arguments, check: false)
    }

    @Test(.enabled(if: binary != nil, "build the executable first (swift build)"))
    func binaryInspectsTheFixtures() throws {
        let result = try run(["inspect", Self.fixtures.appendingPathComponent("retrans.o").path, "--disassemble"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.contains("tcp_retransmit_skb"))
        #expect(result.stdout.contains("r2 = map[events] ll"))
        let json = try run(["inspect", "--json", Self.fixtures.appendingPathComponent("legacy_maps.o").path])
        #expect(json.status == 0)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((parsed?["maps"] as? [[String: Any]])?.map { $0["source"] as? String } == ["legacy", "legacy"])
    }

    @Test(.enabled(if: binary != nil, "build the executable first (swift build)"))
    func binaryErrorsGoToStderrWithExitCode1() throws {
        let missing = try run(["inspect", "/nonexistent/object.o"])
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr == "error: cannot read /nonexistent/object.o: No such file or directory\n")

        let notELF = try run(["inspect", Self.fixtures.appendingPathComponent("multi.c").path])
        #expect(notELF.status == 1)
        #expect(notELF.stdout.isEmpty)
        #expect(notELF.stderr.hasPrefix("error: "))
        #expect(notELF.stderr.contains("ELF header at offset 0: not an ELF file"))
    }

    // MARK: - CO-RE

    static let vmlinux = "/sys/kernel/btf/vmlinux"
    static var hasVmlinux: Bool { FileManager.default.isReadableFile(atPath: vmlinux) }

    private func coreRelocations(_ json: [String: Any]) throws -> [[String: Any]] {
        try #require(json["relocations"] as? [[String: Any]]).filter { $0["kind"] as? String == "core" }
    }

    @Test func jsonListsCORERelocationsWithoutTargetValuesWhenNoTargetIsGiven() throws {
        let object = try Self.object("core_fields.o")
        let text = InspectJSON.render(object, file: "core_fields.o", disassemble: false)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let core = try coreRelocations(json)
        #expect(core.count == object.programs[0].coreRelocations.count)
        let mark = try #require(core.first { $0["access"] as? String == "sock.sk_mark" && $0["core_kind"] as? String == "byte_off" })
        #expect(mark["program"] as? String == "core_fields")
        #expect(mark["type"] as? String == "struct sock")
        #expect(mark["access_string"] as? String == "0:1")
        #expect(mark["local_value"] as? Int == 64)
        #expect(mark["target_value"] == nil)
        // Key order as documented.
        #expect(text.contains("\"kind\": \"core\",\n      \"core_kind\": \"byte_off\",\n      \"type\": \"struct sock\",\n      \"access_string\""))
        #expect((json["btf"] as? [String: Any])?["core_relocations"] as? Int == core.count)
    }

    @Test(.enabled(if: binary != nil && hasVmlinux, "needs the built executable and /sys/kernel/btf/vmlinux"))
    func binaryResolvesCOREAgainstTheKernelBTF() throws {
        let path = Self.fixtures.appendingPathComponent("core_fields.clang14.o").path
        let result = try run(["inspect", path, "--json", "--target-btf", Self.vmlinux])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let core = try coreRelocations(json)
        func target(_ access: String, _ kind: String = "byte_off") -> Any? {
            core.first { $0["access"] as? String == access && $0["core_kind"] as? String == kind }?["target_value"] as Any?
        }
        // The offsets libbpf chose on this machine (docs KERNEL-NOTES.md).
        #expect(target("sock.sk_mark") as? Int == 524)
        #expect(target("sock.__sk_common.skc_net.net") as? Int == 48)
        #expect(target("kernfs_node.id") as? Int == 96)
        // Poisoned: the key is there, with null.
        #expect(target("sock___future.sk_field_from_the_future") is NSNull)
        #expect(target("sock___future.sk_field_from_the_future", "field_exists") as? Int == 0)

        let text = try run(["inspect", path, "--target-btf", Self.vmlinux, "--disassemble"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("CO-RE relocations (27) against /sys/kernel/btf/vmlinux"))
        #expect(text.stdout.contains("r3 = *(u32 *)(r2 + 64)  ; CO-RE byte_off sock.sk_mark: 64 -> 524"))
        #expect(text.stdout.contains("-> poisoned"))

        let bad = try run(["inspect", path, "--target-btf", Self.fixtures.appendingPathComponent("multi.c").path])
        #expect(bad.status == 1)
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr.hasPrefix("error: ") && bad.stderr.contains("bad magic"))
    }
}
