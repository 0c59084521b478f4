import Foundation
import KernelTestSupport
import Testing
@testable import ELFReader
import ReaderFuzzSupport

/// Untrusted bytes: every malformed object gives an `ObjectReadError` (or,
/// where the damage is harmless, a valid spec), never a crash or a hang.
@Suite struct MalformedInputTests {
    private func expectError(_ bytes: [UInt8], contains text: String, section: String? = "ELF header",
                             sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ObjectReader.read(bytes)
            Issue.record("read succeeded; expected an error containing \"\(text)\"", sourceLocation: sourceLocation)
        } catch {
            #expect(error.reason.contains(text), "\(error)", sourceLocation: sourceLocation)
            #expect(error.section == section, "\(error)", sourceLocation: sourceLocation)
        }
    }

    private func patched(_ fixture: Fixture, _ changes: [Int: UInt8]) throws -> [UInt8] {
        var bytes = try fixture.bytes()
        for (offset, value) in changes { bytes[offset] = value }
        return bytes
    }

    @Test func notAnELFFile() throws {
        expectError(Array("#!/bin/sh\necho hello\n".utf8), contains: "not an ELF file")
        expectError([], contains: "not an ELF file")
        expectError([0x7f, 0x45, 0x4c], contains: "not an ELF file")
    }

    @Test func thirtyTwoBit() throws {
        expectError(try patched(.retrans, [4: 1]), contains: "32-bit ELF: BPF objects are ELF64")
    }

    @Test func bigEndian() throws {
        expectError(try patched(.retrans, [5: 2]), contains: "big-endian")
    }

    @Test func wrongMachine() throws {
        expectError(try patched(.retrans, [18: 62, 19: 0]), contains: "machine is x86-64 (62), not EM_BPF (247)")
        expectError(try patched(.retrans, [18: 0x34, 0x13: 0x12]), contains: "not EM_BPF (247)")
    }

    /// A real non-BPF ELF: the test runner itself.
    @Test func theTestBinaryIsNotABPFObject() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/proc/self/exe")))
        #if arch(x86_64)
        expectError(bytes, contains: "machine is x86-64 (62), not EM_BPF (247)")
        #else
        expectError(bytes, contains: "not EM_BPF (247)")
        #endif
    }

    @Test func truncatedHeaderAndSectionTable() throws {
        let bytes = try Fixture.retrans.bytes()
        expectError(Array(bytes[0..<40]), contains: "truncated")
        expectError(Array(bytes[0..<(bytes.count - 1)]), contains: "section header table", section: "section headers")
    }

    @Test func sectionDataOutsideTheFile() throws {
        // Point the .BTF section's sh_offset far past the end.
        var bytes = try Fixture.retrans.bytes()
        let elf = try ELFFile(bytes)
        let btf = try #require(elf.section(named: ".BTF"))
        let headerOffset = Int(Self.sectionHeaderTableOffset(bytes)) + btf.index * 64 + 24
        for shift in 0..<8 { bytes[headerOffset + shift] = 0xff }
        expectError(bytes, contains: "lies outside the file", section: ".BTF")
    }

    /// Symbol values and sizes at the limits, where careless arithmetic would
    /// overflow or slice out of range.
    @Test func symbolValuesAtTheLimits() throws {
        let original = try Fixture.multi.bytes()
        let elf = try ELFFile(original)
        let symbolTable = try #require(elf.sections.first { $0.type == ELF.sectionSymbolTable })
        let symbols = try SymbolTable.read(elf)
        func patch(_ name: String, field: Int, to value: UInt64, in bytes: inout [UInt8]) throws {
            let symbol = try #require(symbols.first { $0.name == name })
            let position = Int(symbolTable.offset) + symbol.index * 24 + field
            for shift in 0..<8 { bytes[position + shift] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(shift))) }
        }
        let value = 8, size = 16
        for huge: UInt64 in [0x1_0000, UInt64(UInt32.max), UInt64(Int64.max), UInt64.max] {
            // record_call's size unknown (0), and the next function far past the end.
            var bytes = original
            try patch("record_call", field: size, to: 0, in: &bytes)
            try patch("weigh", field: value, to: huge, in: &bytes)
            #expect(throws: ObjectReadError.self) { try ObjectReader.read(bytes) }
            // A global variable at an absurd offset.
            bytes = original
            try patch("weight", field: value, to: huge, in: &bytes)
            #expect(throws: ObjectReadError.self) { try ObjectReader.read(bytes) }
            // A map symbol at an absurd offset in a legacy maps section.
            var legacy = try Fixture.legacyMaps.bytes()
            let legacyELF = try ELFFile(legacy)
            let legacyTable = try #require(legacyELF.sections.first { $0.type == ELF.sectionSymbolTable })
            let map = try #require(try SymbolTable.read(legacyELF).first { $0.name == "total_calls" })
            let position = Int(legacyTable.offset) + map.index * 24 + value
            for shift in 0..<8 { legacy[position + shift] = UInt8(truncatingIfNeeded: huge >> (8 * UInt64(shift))) }
            #expect(throws: ObjectReadError.self) { try ObjectReader.read(legacy) }
        }
    }

    static func sectionHeaderTableOffset(_ bytes: [UInt8]) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[40 + $1]) << (8 * UInt64($1)) }
    }

    /// Every prefix of every fixture: an error or a spec, never a crash.
    @Test(arguments: Fixture.allCases)
    func truncationAtEveryOffset(_ fixture: Fixture) async throws {
        let bytes = try fixture.bytes()
        let outcomes = await Self.readAll((0..<bytes.count).map { Array(bytes[0..<$0]) })
        // A prefix lacks the section header table at the end, so none parses.
        #expect(outcomes.succeeded == 0)
        #expect(outcomes.failed == bytes.count)
        #expect(try ObjectReader.read(bytes) == fixture.spec())
    }

    /// The file ends with the section header table, so whole-file truncation
    /// stops early. This truncates each section the reader interprets instead
    /// (by shrinking its sh_size), at every length, to reach the parsers inside.
    @Test(arguments: Fixture.allCases)
    func truncationOfEverySectionAtEveryLength(_ fixture: Fixture) async throws {
        let bytes = try fixture.bytes()
        let elf = try ELFFile(bytes)
        let tableStart = Int(Self.sectionHeaderTableOffset(bytes))
        var inputs: [[UInt8]] = []
        for section in elf.sections where section.size > 0 && (section.type == ELF.sectionSymbolTable
            || section.type == ELF.sectionRel || section.isExecutable
            || [".BTF", ".BTF.ext", ".maps", "maps", ".rodata", ".data", "license", ".strtab"].contains(section.name)) {
            for length in 0..<Int(section.size) {
                var copy = bytes
                let sizeField = tableStart + section.index * 64 + 32
                for shift in 0..<8 { copy[sizeField + shift] = UInt8(truncatingIfNeeded: length >> (8 * shift)) }
                inputs.append(copy)
            }
        }
        let outcomes = await Self.readAll(inputs)
        #expect(outcomes.succeeded + outcomes.failed == inputs.count)
        #expect(outcomes.failed > inputs.count / 2)
        for message in outcomes.sampleErrors { #expect(message.contains("offset"), "\(message)") }
    }

    /// Seeded random damage anywhere in the file.
    @Test(arguments: Fixture.allCases)
    func randomByteFlips(_ fixture: Fixture) async throws {
        let bytes = try fixture.bytes()
        var random = SeededRandom(seed: 0xb7f_0000 + UInt64(fixture.rawValue.count))
        var inputs: [[UInt8]] = []
        for _ in 0..<1500 {
            inputs.append(Self.flip(bytes, in: 0..<bytes.count, using: &random))
        }
        let outcomes = await Self.readAll(inputs)
        #expect(outcomes.succeeded + outcomes.failed == inputs.count)
        // Most single flips land in debug info and change nothing the reader uses.
        #expect(outcomes.succeeded > 0 && outcomes.failed > 0)
    }

    /// Seeded random damage aimed at the parts the reader interprets: headers,
    /// symbols, relocations, code, `.BTF` and `.BTF.ext`.
    @Test(arguments: Fixture.allCases)
    func randomFlipsInInterpretedSections(_ fixture: Fixture) async throws {
        let bytes = try fixture.bytes()
        let elf = try ELFFile(bytes)
        var regions: [Range<Int>] = [0..<64]
        let tableStart = Int(Self.sectionHeaderTableOffset(bytes))
        regions.append(tableStart..<min(bytes.count, tableStart + elf.sections.count * 64))
        for section in elf.sections where section.type != ELF.sectionNoBits && section.size > 0 {
            let interesting = section.type == ELF.sectionSymbolTable || section.type == ELF.sectionRel && !section.name.contains("debug")
                || section.isExecutable || [".BTF", ".BTF.ext", ".maps", "maps", ".rodata", "license", ".strtab"].contains(section.name)
            if interesting { regions.append(Int(section.offset)..<Int(section.offset + section.size)) }
        }
        var random = SeededRandom(seed: 0xd15ea5e + UInt64(fixture.rawValue.count))
        var inputs: [[UInt8]] = []
        for _ in 0..<1500 {
            let region = regions.randomElement(using: &random) ?? 0..<bytes.count
            inputs.append(Self.flip(bytes, in: region, using: &random))
        }
        let outcomes = await Self.readAll(inputs)
        #expect(outcomes.succeeded + outcomes.failed == inputs.count)
        #expect(outcomes.failed > 100)
        // Every error names where it happened.
        for message in outcomes.sampleErrors { #expect(message.contains("offset"), "\(message)") }
    }

    /// One to four bytes changed: XORed with a random nonzero value, or set to 0xff / 0x00.
    static func flip(_ bytes: [UInt8], in region: Range<Int>, using random: inout SeededRandom) -> [UInt8] {
        var copy = bytes
        guard !region.isEmpty else { return copy }
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = Int.random(in: region, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: copy[position] = 0xff
            case 1: copy[position] = 0x00
            default: copy[position] ^= UInt8.random(in: 1...255, using: &random)
            }
        }
        return copy
    }

    struct Outcomes: Sendable {
        var succeeded = 0
        var failed = 0
        var sampleErrors: [String] = []
    }

    /// Reads every input on all cores.
    static func readAll(_ inputs: [[UInt8]]) async -> Outcomes {
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        return await withTaskGroup(of: Outcomes.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var outcomes = Outcomes()
                    for index in stride(from: worker, to: inputs.count, by: workers) {
                        do throws(ObjectReadError) {
                            let spec = try ObjectReader.read(inputs[index])
                            // Whatever parses must also render without trapping.
                            for program in spec.programs { _ = ProgramListing(program: program, object: spec).text }
                            // And CO-RE records must resolve (or fail) against the object's own damaged BTF.
                            _ = InspectWalk.visitCORE(spec)
                            outcomes.succeeded += 1
                        } catch {
                            outcomes.failed += 1
                            if outcomes.sampleErrors.count < 50 { outcomes.sampleErrors.append(error.description) }
                        }
                    }
                    return outcomes
                }
            }
            var total = Outcomes()
            for await part in group {
                total.succeeded += part.succeeded
                total.failed += part.failed
                total.sampleErrors += part.sampleErrors
            }
            return total
        }
    }
}
