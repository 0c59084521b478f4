import Foundation
import KernelTestSupport
import Testing
@testable import ELFReader

/// Our CO-RE decisions against libbpf's, on this machine's kernel: for every
/// relocation of every CO-RE fixture (both compilers), the value we would
/// write equals what `bpftool -d prog loadall` says libbpf wrote, and we
/// poison exactly the instructions libbpf poisons.
///
/// bpftool loads the programs into the kernel, so run this suite under the
/// shared lock:
///     flock /tmp/retrans-kernel.lock swift test --skip-build --filter COREWitnessTests
@Suite(.serialized) struct COREWitnessTests {
    static let vmlinuxPath = "/sys/kernel/btf/vmlinux"
    static let bpftool = ExternalTool.find("bpftool")
    static var canLoad: Bool { bpftool != nil && getuid() == 0 && FileManager.default.fileExists(atPath: vmlinuxPath) }

    /// Runs `bpftool -d prog loadall` and collects libbpf's CO-RE lines; removes the pins after.
    static func libbpfDecisions(_ fixture: Fixture) throws -> (decisions: [LibbpfCOREDecision], loaded: Bool, log: String) {
        let tool = try #require(bpftool)
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        if !mounts.contains(" /sys/fs/bpf bpf ") {
            let mount = try ExternalTool(path: "/bin/mount").run(["-t", "bpf", "bpffs", "/sys/fs/bpf"])
            #expect(mount.status == 0, "mount bpffs: \(mount.stderr)")
        }
        let pins = "/sys/fs/bpf/retrans-core-witness-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: pins) }
        let output = try tool.run(["-d", "prog", "loadall", fixture.path, pins])
        let decisions = LibbpfCOREDecision.parse(output.stderr + "\n" + output.stdout)
        let loaded = output.status == 0
        return (decisions, loaded, output.stderr)
    }

    static func target() throws -> CORETarget {
        CORETarget(vmlinux: try KernelBTF(vmlinux: [UInt8](try Data(contentsOf: URL(fileURLWithPath: vmlinuxPath)))))
    }

    @Test(.enabled(if: canLoad, "needs root, bpftool and /sys/kernel/btf/vmlinux"), arguments: Fixture.core)
    func everyRelocationResolvesAsLibbpfResolvesIt(_ fixture: Fixture) throws {
        let object = try fixture.spec()
        let (_, resolutions) = try CORERelocator.relocate(object, target: try Self.target())
        let (theirs, loaded, log) = try Self.libbpfDecisions(fixture)
        #expect(loaded, "bpftool could not load \(fixture.rawValue): \(log.suffix(2000))")

        // libbpf relocates a .text function once, as its own program, counting
        // instructions from the function's start; the reader copies it into every
        // caller. Compare by (function, instruction in the function, value).
        struct Decision: Hashable, CustomStringConvertible {
            var function: String
            var instruction: Int
            var value: UInt64?
            var description: String { "\(function) insn #\(instruction) -> \(value.map(String.init) ?? "poison")" }
        }
        var ours = Set<Decision>()
        var count = 0
        for program in object.programs {
            var starts: [(name: String, start: Int)] = [(program.name, 0)]
            for relocation in program.relocations {
                if case .call(let function, let start) = relocation.target { starts.append((function, start)) }
            }
            func place(_ index: Int) -> (String, Int) {
                let function = starts.filter { $0.start <= index }.max { $0.start < $1.start } ?? (program.name, 0)
                return (function.name, index - function.start)
            }
            for resolution in resolutions[program.name] ?? [] {
                count += 1
                let index = resolution.relocation.instructionIndex
                let (function, local) = place(index)
                ours.insert(Decision(function: function, instruction: local, value: resolution.targetValue))
                // libbpf poisons both halves of an ld_imm64.
                if resolution.isPoisoned, program.instructions[index].isLoadImmediate64 {
                    ours.insert(Decision(function: function, instruction: local + 1, value: nil))
                }
            }
        }
        let libbpf = Set(theirs.map { Decision(function: $0.program, instruction: $0.instruction, value: $0.value) })
        #expect(count >= 4, "the fixture should carry CO-RE relocations")
        #expect(libbpf.count == theirs.count, "libbpf reported one instruction twice")
        #expect(ours.sorted { $0.description < $1.description } == libbpf.sorted { $0.description < $1.description })
    }

    /// Every kind clang emits appears in the fixtures (type_matches only with clang >= 15).
    @Test func fixturesCoverEveryKind() throws {
        var kinds = Set<COREKind>()
        for fixture in [Fixture.coreFields, .coreTypes, .coreSubprog] {
            for program in try fixture.spec().programs { kinds.formUnion(program.coreRelocations.map(\.kind)) }
        }
        #expect(kinds == Set(COREKind.allCases))
        var clang14Kinds = Set<COREKind>()
        for fixture in [Fixture.coreFieldsClang14, .coreTypesClang14, .coreSubprogClang14] {
            for program in try fixture.spec().programs { clang14Kinds.formUnion(program.coreRelocations.map(\.kind)) }
        }
        #expect(clang14Kinds == Set(COREKind.allCases).subtracting([.typeMatches]))
    }
}
