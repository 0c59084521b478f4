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
        #expect(programs.count == 1)
        #expect(programs.first?["name"] as? String == "tcp_retransmit_skb")
        #expect(programs.first?["kind"] as? String == "tracepoint")
        #expect((programs.first?["attach"] as? [String: String]) == ["category": "tcp", "name": "tcp_retransmit_skb"])
        #expect(programs.first?["instructions"] as? Int == 61)
        let listing = try #require(programs.first?["disassembly"] as? [[String: Any]])
        #expect(listing.contains { $0["kind"] as? String == "instruction" && $0["index"] as? Int == 32
                                   && $0["text"] as? String == "r2 = map[events] ll" })
        #expect(listing.contains { $0["kind"] as? String == "source" && ($0["text"] as? String)?.contains("ctx->state") == true })

        let maps = try #require(json["maps"] as? [[String: Any]])
        #expect(maps.map { $0["name"] as? String } == ["events", "stats", ".rodata"])
        #expect(maps.first?["type"] as? String == "PERF_EVENT_ARRAY")
        #expect(maps.first?["max_entries"] as? Int == 0)
        #expect(maps.last?["flag_names"] as? [String] == ["RDONLY_PROG"])

        let relocations = try #require(json["relocations"] as? [[String: Any]])
        #expect(relocations.contains { $0["instruction"] as? Int == 32 && $0["kind"] as? String == "map"
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
        #expect(text.contains("instructions  61\n"))
        #expect(text.contains("  events   PERF_EVENT_ARRAY    4      4            0  0x0                 btf\n"))
        #expect(text.contains("  tcp_retransmit_skb    32  map        events\n"))
        #expect(text.contains("40 types"))
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
}
