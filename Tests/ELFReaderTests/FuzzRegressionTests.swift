import Foundation
import Testing
import ELFReader
import ReaderFuzzSupport

/// Replays every input the fuzzer ever found (Tests/ELFReaderTests/FuzzRegressions/,
/// see docs/FUZZING.md) through the reader and everything `inspect` does with
/// a spec: each must give a thrown error or a sound spec, never a crash, and
/// quickly (the slow ones were complexity bugs).
@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("FuzzRegressions")

    /// Generous: the fixed reader takes well under a millisecond on each of
    /// these; the bugs they caught took seconds or never finished.
    static let cpuSecondsPerInput = 2.0

    static func inputs() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// A missing or empty folder would make the replay pass without testing anything.
    @Test func theRegressionFolderHoldsInputs() throws {
        let inputs = try Self.inputs()
        #expect(inputs.count >= 1, "no fuzz regression inputs in \(Self.directory.path)")
    }

    @Test func everyFindingReadsToAnErrorOrASoundSpec() throws {
        let inputs = try Self.inputs()
        try #require(!inputs.isEmpty, "no fuzz regression inputs in \(Self.directory.path)")
        for input in inputs {
            let bytes = [UInt8](try Data(contentsOf: input))
            let started = Self.cpuSeconds()
            do {
                let object = try ObjectReader.read(bytes)
                #expect(SpecInvariants.violations(in: object) == [], "\(input.lastPathComponent)")
                InspectWalk.visit(object)
            } catch {
                #expect(!error.reason.isEmpty, "\(input.lastPathComponent): empty error message")
            }
            let spent = Self.cpuSeconds() - started
            #expect(spent < Self.cpuSecondsPerInput,
                    "\(input.lastPathComponent) took \(spent) s of CPU time")
        }
    }

    /// The replay must be able to fail: a spec that breaks an invariant is reported.
    @Test func theInvariantCheckSeesABrokenSpec() throws {
        var object = try Fixture.multi.spec()
        let program = try #require(object.programs.first)
        object.programs[0].relocations.append(Relocation(instructionIndex: program.instructions.count + 3,
                                                         target: .map(name: "nowhere")))
        object.programs[0].entryLength = 0
        let violations = SpecInvariants.violations(in: object)
        #expect(violations.count == 2, "\(violations)")
    }

    static func cpuSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
