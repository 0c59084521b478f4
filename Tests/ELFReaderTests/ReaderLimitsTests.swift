import Foundation
import Testing
@testable import ELFReader

/// The bounds that keep a small hostile file from demanding gigabytes or
/// minutes (docs/FUZZING.md): each is hit exactly at its edge, with a message
/// that says which limit and why.
@Suite struct ReaderLimitsTests {
    /// Inputs built to hit each bound, kept with the fuzzer's findings (which replays them too).
    private func regressionInput(_ name: String) throws -> [UInt8] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzRegressions")
        return [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    private func link(_ fixture: Fixture, limits: ProgramLinker.SlotLimits) throws -> [ProgramSpec] {
        let elf = try ELFFile(try fixture.bytes())
        let symbols = try SymbolTable.read(elf)
        let linker = try ProgramLinker(elf: elf, symbols: symbols, relocations: try RelocationTable.read(elf),
                                       lineAndFuncInfo: [:], limits: limits)
        return try linker.programs()
    }

    @Test func linkedProgramSizeIsBoundedPerProgramAndInTotal() throws {
        let sizes = try Fixture.multi.spec().programs.map(\.instructions.count)
        let largest = try #require(sizes.max())
        let total = sizes.reduce(0, +)
        #expect(sizes.count >= 3 && largest < total)

        // Exactly at the limits: everything links.
        #expect(try link(.multi, limits: .init(program: largest, total: total)).map(\.instructions.count) == sizes)

        do {
            _ = try link(.multi, limits: .init(program: largest - 1, total: total))
            Issue.record("a program one instruction over the per-program limit linked")
        } catch let error as ObjectReadError {
            #expect(error.reason.contains("more than the kernel's limit of \(largest - 1) per program"), "\(error)")
        }
        do {
            _ = try link(.multi, limits: .init(program: largest, total: total - 1))
            Issue.record("programs one instruction over the total limit linked")
        } catch let error as ObjectReadError {
            #expect(error.reason.contains("all programs together exceed \(total - 1) instructions"), "\(error)")
        }
    }

    @Test func theStandardLimitsAreTheKernels() {
        #expect(ProgramLinker.SlotLimits.standard.program == 1_000_000)  // BPF_COMPLEXITY_LIMIT_INSNS
        #expect(ProgramLinker.SlotLimits.standard.total >= ProgramLinker.SlotLimits.standard.program)
    }

    /// Two `.bss` headers of 40 MiB each: allocating their zeros would take 80 MiB.
    @Test func dataSectionsTogetherAreBounded() throws {
        let bytes = try regressionInput("bss-sections-summing-past-64-MiB.o")
        do {
            _ = try ObjectReader.read(bytes)
            Issue.record("80 MiB of .bss was accepted")
        } catch {
            #expect(error.reason.contains("past their 67108864-byte limit"), "\(error)")
            #expect(error.section == ".bss")
        }
    }

    /// 64 symbols naming one 5000-byte string: each would copy it.
    @Test func namesAreBounded() throws {
        let bytes = try regressionInput("symbol-names-longer-than-4096-bytes.o")
        do {
            _ = try ObjectReader.read(bytes)
            Issue.record("a 5000-byte symbol name was accepted")
        } catch {
            #expect(error.reason.contains("longer than 4096 bytes"), "\(error)")
        }
        // Exactly at the limit is fine; one more byte is not.
        let table = StringTable(bytes: Array(repeating: UInt8(ascii: "a"), count: 4096) + [0], context: "test")
        #expect(try table.string(at: 0).utf8.count == 4096)
        let longer = StringTable(bytes: Array(repeating: UInt8(ascii: "a"), count: 4097) + [0], context: "test")
        #expect(throws: ObjectReadError.self) { try longer.string(at: 0) }
    }
}
