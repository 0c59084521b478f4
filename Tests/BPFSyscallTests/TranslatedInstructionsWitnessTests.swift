import BPFSyscall
import ELFReader
import Foundation
import KernelTestSupport
import Testing

extension KernelTests {
    /// libbpf as the independent witness of our loader, on bpf/retrans.o's four programs:
    /// each, loaded by our loader and by `bpftool prog loadall`, leaves the same translated
    /// (post-verifier) instructions in the kernel, and libbpf's CO-RE decisions for the tp_btf
    /// programs are the ones `retrans-exporter inspect --target-btf --json` shows.
    ///
    /// Both sides load with the object's own constants (.rodata as compiled:
    /// tracepoint_has_err = 1, which is also what this kernel's format gives, and
    /// ring_wakeup_bytes = 0) and the ring's compiled max_entries (1 MiB); the test checks
    /// that both .rodata maps hold the same bytes and every referenced map has the same
    /// type, sizes and max_entries. Masked, and only this: the map id in the first slot of
    /// an `ld_imm64` that references a map (src_reg BPF_PSEUDO_MAP_FD or
    /// BPF_PSEUDO_MAP_VALUE), which differs between any two loads; it is replaced by the
    /// map's description, so a reference to the wrong map still fails. Everything else,
    /// helper call offsets, inlined map lookups and the value offsets of global variables,
    /// is compared as the kernel holds it.
    ///
    /// Run under the shared lock:
    ///     flock /tmp/retrans-kernel.lock swift test --skip-build --filter TranslatedInstructionsWitnessTests
    @Suite struct TranslatedInstructionsWitnessTests {
        static let programs = ["tcp_retransmit_skb", "tcp_retransmit_skb_rb", "tcp_retransmit_btf", "tcp_retransmit_btf_rb"]
        static let objectPath = TestObjects.repositoryRoot + "/bpf/retrans.o"
        static let exporterPath = TestObjects.repositoryRoot + "/.build/debug/retrans-exporter"
        static var hasBpftool: Bool { (try? Command.run(["bpftool", "version"], check: false).succeeded) == true }

        /// A map as the instructions' comparison sees it: everything but its id. The kernel
        /// keeps libbpf's object-prefixed name for data sections (`retrans.rodata`) where
        /// ours is the section's (`.rodata`): both are compared as the section name.
        struct MapDescription: Equatable, CustomStringConvertible {
            var name: String
            var type: UInt32
            var keySize: UInt32
            var valueSize: UInt32
            var maxEntries: UInt32
            var description: String { "\(name)(type \(type), key \(keySize), value \(valueSize), max_entries \(maxEntries))" }
        }

        /// One translated slot, with a map id replaced by the map's description.
        enum Slot: Equatable, CustomStringConvertible {
            case instruction(Instruction)
            case mapReference(Instruction, MapDescription)

            var description: String {
                switch self {
                case .instruction(let i): return "op \(hex(i.opcode)) dst r\(i.dst) src r\(i.src) off \(i.offset) imm \(i.imm)"
                case .mapReference(let i, let map): return "op \(hex(i.opcode)) dst r\(i.dst) src \(i.src) map \(map)"
                }
            }
        }

        static func describeMap(id: UInt32) throws -> MapDescription {
            guard let fd = try Syscalls.kernel.open(id: id, kind: .map) else { throw MapGone(id: id) }
            let info = try Syscalls.kernel.mapInfo(fd.rawValue)
            let name = info.name.hasSuffix(".rodata") ? ".rodata" : info.name
            return MapDescription(name: name, type: info.type, keySize: info.keySize, valueSize: info.valueSize,
                                  maxEntries: info.maxEntries)
        }

        /// The one map value of the .rodata map a program references (both sides' constants).
        static func rodataBytes(_ slots: [Slot], instructions: [Instruction]) throws -> [UInt8]? {
            for (index, slot) in slots.enumerated() {
                guard case .mapReference(_, let map) = slot, map.name == ".rodata" else { continue }
                let id = UInt32(bitPattern: instructions[index].imm)
                guard let fd = try Syscalls.kernel.open(id: id, kind: .map) else { throw MapGone(id: id) }
                return try Syscalls.kernel.lookupElement(fd.rawValue, key: [0, 0, 0, 0], valueSize: Int(map.valueSize))
            }
            return nil
        }

        struct MapGone: Error { var id: UInt32 }

        static let pseudoMapFD: UInt8 = 1
        static let pseudoMapValue: UInt8 = 2

        static func masked(_ instructions: [Instruction]) throws -> [Slot] {
            try instructions.map { instruction in
                if instruction.isLoadImmediate64, instruction.src == pseudoMapFD || instruction.src == pseudoMapValue {
                    var rest = instruction
                    rest.imm = 0
                    return .mapReference(rest, try describeMap(id: UInt32(bitPattern: instruction.imm)))
                }
                return .instruction(instruction)
            }
        }

        @Test(.enabled(if: hasBpftool, "needs bpftool (apt-get install bpftool)"))
        func ourLoadTranslatesAsLibbpfsLoad() throws {
            let theirs = try BpftoolLoad(object: Self.objectPath, directory: "/sys/fs/bpf/retrans-xlated-witness-\(getpid())")
            defer { theirs.remove() }
            let constants = try TestObjects.retransConstants()
            #expect(constants["tracepoint_has_err"] == .u32(1),
                    "this comparison expects the compiled constant to be this kernel's: both sides load with it")

            for name in Self.programs {
                let object = try LoadedObject(loading: try TestObjects.retrans(),
                                              options: LoadOptions(constants: constants, programs: [name]))
                let program = try object.requiredProgram(name)
                let info = try program.info()

                // Our read of our program's instructions is bpftool's read of it, byte for byte.
                let oursRead = try program.translatedInstructions()
                let oursByBpftool = try Bpftool.translatedInstructions(programID: Int(info.id))
                #expect(oursRead.flatMap(\.bytes) == oursByBpftool, "\(name): our xlated read differs from bpftool's dump")
                #expect(oursRead.count * 8 == Int(info.translatedLength))

                // libbpf's copy of the same program.
                let theirBytes = try Bpftool.translatedInstructions(programID: try theirs.programID(name))
                let theirRead = try Instruction.slots(of: theirBytes, context: "bpftool xlated dump of \(name)")
                let ours = try Self.masked(oursRead)
                let their = try Self.masked(theirRead)
                #expect(try Self.rodataBytes(ours, instructions: oursRead) == Self.rodataBytes(their, instructions: theirRead),
                        "\(name): the two loads' .rodata constants differ")
                #expect(ours.count == their.count, "\(name): \(ours.count) translated slots, libbpf's load has \(their.count)")
                var differences: [String] = []
                for index in 0..<min(ours.count, their.count) where ours[index] != their[index] {
                    differences.append("#\(index): ours \(ours[index]), libbpf \(their[index])")
                }
                #expect(differences.isEmpty, "\(name): translated instructions differ:\n\(differences.prefix(20).joined(separator: "\n"))")
                let mapReferences = ours.filter { if case .mapReference = $0 { true } else { false } }.count
                print("\(name): \(ours.count) translated slots equal libbpf's (\(mapReferences) map references masked by description)")
                object.close()
            }
        }

        @Test(.enabled(if: hasBpftool && SystemFile.exists("/sys/kernel/btf/vmlinux"), "needs bpftool and /sys/kernel/btf/vmlinux"))
        func inspectShowsLibbpfsCOREDecisions() throws {
            #expect(SystemFile.exists(Self.exporterPath), "build the exporter first: swift build")
            let theirs = try BpftoolLoad(object: Self.objectPath, directory: "/sys/fs/bpf/retrans-core-witness-\(getpid())")
            theirs.remove()
            let libbpf = LibbpfCOREDecision.parse(theirs.output)

            let inspect = try Command.run([Self.exporterPath, "inspect", Self.objectPath,
                                           "--target-btf", "/sys/kernel/btf/vmlinux", "--json"])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
            let relocations = try #require(document["relocations"] as? [[String: Any]])
            var ours: [LibbpfCOREDecision] = []
            var numberInProgram: [String: Int] = [:]
            for relocation in relocations where relocation.string("kind") == "core" {
                let program = try #require(relocation.string("program"))
                let instruction = try #require(relocation.int("instruction"))
                let value = (relocation["target_value"] as? NSNumber).map { UInt64(bitPattern: $0.int64Value) }
                let number = numberInProgram[program, default: 0]
                numberInProgram[program] = number + 1
                ours.append(LibbpfCOREDecision(program: program, relocation: number, instruction: instruction, value: value))
            }
            let tpBTF: Set<String> = ["tcp_retransmit_btf", "tcp_retransmit_btf_rb",
                                      "tcp_retransmit_synack_btf", "tcp_retransmit_synack_btf_rb", "netns_tasks"]
            #expect(Set(ours.map(\.program)) == tpBTF, "only the tp_btf programs read kernel structs")
            #expect(libbpf.count == ours.count && !ours.isEmpty,
                    "libbpf made \(libbpf.count) CO-RE decisions, inspect shows \(ours.count)")
            // libbpf numbers relocations per ELF section (both tp_btf programs share one), we number
            // them per program: the decision is the program, the instruction and the value written.
            func decision(_ d: LibbpfCOREDecision) -> String { "\(d.program) insn #\(d.instruction) -> \(d.value.map(String.init) ?? "poison")" }
            let oursDecided = ours.map(decision).sorted(), libbpfDecided = libbpf.map(decision).sorted()
            #expect(oursDecided == libbpfDecided, """
                ours without libbpf: \(Set(oursDecided).subtracting(libbpfDecided).sorted())
                libbpf without ours: \(Set(libbpfDecided).subtracting(oursDecided).sorted())
                """)
            for program in tpBTF.sorted() {
                print("\(program): \(ours.filter { $0.program == program }.map(\.description).joined(separator: "; "))")
            }
        }
    }
}

private func hex(_ byte: UInt8) -> String { "0x" + String(byte, radix: 16) }
