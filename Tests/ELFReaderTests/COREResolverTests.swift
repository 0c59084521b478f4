import Foundation
import KernelTestSupport
import Testing
@testable import ELFReader

/// The resolver on synthetic BTF pairs built here: each test states a layout
/// change between the object and the kernel, and what CO-RE must make of it
/// (the rules of libbpf's relo_core.c).
@Suite struct COREResolverTests {
    /// A program of `instructions` carrying `relocations`, resolved and patched against `target`.
    struct Run {
        var resolutions: [COREResolution]
        var patched: [Instruction]
    }

    static func run(local: inout BTFTypeBuilder, target: inout BTFTypeBuilder, instructions: [Instruction],
                    _ relocations: [CORERelocation]) throws -> Run {
        let program = ProgramSpec(name: "probe", sectionName: "tp_btf/x", kind: .unknown, instructions: instructions,
                                  entryLength: instructions.count, relocations: [], funcInfo: [], lineInfo: [],
                                  coreRelocations: relocations)
        var relocator = CORERelocator(objectBTF: try local.localSpec(),
                                      target: CORETarget(vmlinux: try KernelBTF(vmlinux: target.bytes())))
        let resolutions = try relocator.resolve(program)
        return Run(resolutions: resolutions, patched: try CORERelocator.patch(program, with: resolutions))
    }

    static func load32(offset: Int16) -> Instruction { Instruction(opcode: 0x61, dst: 1, src: 2, offset: offset, imm: 0) }
    static func move(_ imm: Int32) -> Instruction { Instruction(opcode: 0xb7, dst: 1, src: 0, offset: 0, imm: imm) }
    static func relocation(_ index: Int, _ type: UInt32, _ access: String, _ kind: COREKind) -> CORERelocation {
        CORERelocation(instructionIndex: index, localTypeID: type, accessString: access, kind: kind)
    }

    static let u32 = BTFKind.int(size: 4, encoding: 0, bitOffset: 0, bits: 32)
    static let s32 = BTFKind.int(size: 4, encoding: 1, bitOffset: 0, bits: 32)
    static let u64 = BTFKind.int(size: 8, encoding: 0, bitOffset: 0, bits: 64)
    static let u8 = BTFKind.int(size: 1, encoding: 0, bitOffset: 0, bits: 8)

    @Test func movedFieldGetsTheKernelsOffset() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let localInt = local.add("u32", Self.u32)
        let foo = local.add("foo", .structure(size: 8, members: members([("a", localInt, 0), ("b", localInt, 32)])))
        let targetInt = target.add("unsigned int", Self.u32)
        target.add("foo", .structure(size: 16, members: members([("x", targetInt, 0), ("b", targetInt, 64), ("a", targetInt, 96)])))

        let run = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 4), Self.move(4)],
                               [Self.relocation(0, foo, "0:1", .fieldByteOffset), Self.relocation(1, foo, "0:1", .fieldByteOffset)])
        #expect(run.resolutions.map(\.targetValue) == [8, 8])
        #expect(run.resolutions[0].localValue == 4)
        #expect(run.resolutions[0].access == "foo.b")
        #expect(run.resolutions[0].typeName == "struct foo")
        #expect(run.patched[0] == Self.load32(offset: 8))
        #expect(run.patched[1] == Self.move(8))
    }

    @Test func flavorMatchesTheBaseName() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let old = local.add("task___v5_10", .structure(size: 4, members: members([("pid", int, 0)])))
        let targetInt = target.add("int", Self.s32)
        target.add("task", .structure(size: 8, members: members([("flags", targetInt, 0), ("pid", targetInt, 32)])))
        // A name with `___` but no flavor after it (`a___`) is its own essential name.
        #expect(KernelBTF.essentialName("task___v5_10") == "task")
        #expect(KernelBTF.essentialName("a___") == "a___")
        #expect(KernelBTF.essentialName("a____b") == "a____b")

        let run = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 0)],
                               [Self.relocation(0, old, "0:0", .fieldByteOffset)])
        #expect(run.resolutions[0].targetValue == 4)
        #expect(run.resolutions[0].targetTypeID == 2)
    }

    @Test func missingFieldPoisonsLoadsAndAnswersExistenceWithZero() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("u32", Self.u32)
        let foo = local.add("foo", .structure(size: 8, members: members([("a", int, 0), ("gone", int, 32)])))
        let targetInt = target.add("u32", Self.u32)
        target.add("foo", .structure(size: 4, members: members([("a", targetInt, 0)])))
        let ldimm = [Instruction(opcode: 0x18, dst: 1, src: 0, offset: 0, imm: 4), Instruction(opcode: 0, dst: 0, src: 0, offset: 0, imm: 0)]

        let run = try Self.run(local: &local, target: &target, instructions: [Self.move(1), Self.load32(offset: 4)] + ldimm,
                               [Self.relocation(0, foo, "0:1", .fieldExists), Self.relocation(1, foo, "0:1", .fieldByteOffset),
                                Self.relocation(2, foo, "0:1", .fieldByteOffset)])
        #expect(run.resolutions[0].targetValue == 0)
        #expect(run.resolutions[1].isPoisoned)
        #expect(run.resolutions[1].poisonReason?.contains("foo.gone") == true)
        #expect(run.patched[0] == Self.move(0))
        // libbpf's poison: call 0xbad2310, on both halves of an ld_imm64.
        let poison = Instruction(opcode: 0x85, dst: 0, src: 0, offset: 0, imm: 195_896_080)
        #expect(run.patched[1] == poison && run.patched[2] == poison && run.patched[3] == poison)
    }

    @Test func bitfieldsInDifferentUnits() throws {
        // Object: `unsigned int flags : 3; unsigned int wide : 4` in one u32.
        // Kernel: `u8 pad; u8 flags : 3 (bit 10); ...; u8 wide : 4 at bit 14`, straddling two bytes.
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("unsigned int", Self.u32)
        let foo = local.add("foo", .structure(size: 4, members: [
            BTFMember(name: "flags", typeID: int, bitOffset: 0, bitfieldSize: 3),
            BTFMember(name: "wide", typeID: int, bitOffset: 3, bitfieldSize: 4)]))
        let byte = target.add("u8", Self.u8)
        target.add("foo", .structure(size: 4, members: [
            BTFMember(name: "pad", typeID: byte, bitOffset: 0, bitfieldSize: 0),
            BTFMember(name: "flags", typeID: byte, bitOffset: 10, bitfieldSize: 3),
            BTFMember(name: "wide", typeID: byte, bitOffset: 14, bitfieldSize: 4)]))
        let kinds: [COREKind] = [.fieldByteOffset, .fieldByteSize, .fieldLeftShift, .fieldRightShift, .fieldSigned]
        let relocations = kinds.enumerated().map { Self.relocation($0.offset, foo, "0:0", $0.element) }
            + kinds.enumerated().map { Self.relocation(5 + $0.offset, foo, "0:1", $0.element) }
        // Each instruction holds the value the object was compiled with.
        let instructions = [0, 4, 61, 61, 0, 0, 4, 57, 60, 0].map { Self.move($0) }
        let run = try Self.run(local: &local, target: &target, instructions: instructions, relocations)
        // flags: one byte at 1, bits 10..12 -> shift left 64-(10+3-8) = 59, right 61.
        #expect(run.resolutions[0..<5].map(\.targetValue) == [1, 1, 59, 61, 0])
        // wide: bits 14..17 cross a byte, then a u16 boundary: a u32 load at 0, left 64-18 = 46, right 60.
        #expect(run.resolutions[5..<10].map(\.targetValue) == [0, 4, 46, 60, 0])
        // Local values, from the object's own layout: flags in a u32 at 0, left 61, right 61.
        #expect(run.resolutions[0..<5].map(\.localValue) == [0, 4, 61, 61, 0])
    }

    @Test func enumValueChangedAndEnumeratorMissing() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let state = local.add("state___old", .enumeration(size: 4, signed: false, values: [
            BTFEnumValue(name: "LOSS", value: 1), BTFEnumValue(name: "GONE", value: 2), BTFEnumValue(name: "NEG", value: -3)]))
        target.add("state", .enumeration(size: 4, signed: true, values: [
            BTFEnumValue(name: "OPEN", value: 0), BTFEnumValue(name: "LOSS", value: 7), BTFEnumValue(name: "NEG___x", value: -5)]))
        let ldimm = { (value: Int32) in [Instruction(opcode: 0x18, dst: 1, src: 0, offset: 0, imm: value), Instruction(opcode: 0, dst: 0, src: 0, offset: 0, imm: 0)] }
        let instructions = ldimm(1) + ldimm(1) + ldimm(1) + ldimm(2) + [Self.move(-3)]
        let run = try Self.run(local: &local, target: &target, instructions: instructions, [
            Self.relocation(0, state, "0", .enumValue), Self.relocation(2, state, "0", .enumValueExists),
            Self.relocation(4, state, "1", .enumValueExists), Self.relocation(6, state, "1", .enumValue),
            Self.relocation(8, state, "2", .enumValue)])
        #expect(run.resolutions.map(\.targetValue) == [7, 1, 0, nil, UInt64(bitPattern: -5)])
        #expect(run.resolutions[0].access == "state___old::LOSS")
        #expect(run.patched[0].imm == 7 && run.patched[1].imm == 0)
        #expect(run.patched[8].imm == -5)
    }

    @Test func missingTypeAnswersZero() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let ghost = local.add("ghost", .structure(size: 4, members: members([("x", int, 0)])))
        target.add("int", Self.s32)
        let run = try Self.run(local: &local, target: &target, instructions: [Self.move(1), Self.move(4), Self.move(Int32(ghost))], [
            Self.relocation(0, ghost, "0", .typeExists), Self.relocation(1, ghost, "0", .typeSize),
            Self.relocation(2, ghost, "0", .targetTypeID)])
        #expect(run.resolutions.map(\.targetValue) == [0, 0, 0])
        #expect(run.resolutions.allSatisfy { !$0.isPoisoned })
    }

    @Test func typeMatchesIsStricterThanTypeExists() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let foo = local.add("foo", .structure(size: 4, members: members([("a", int, 0)])))
        let targetUnsigned = target.add("int", Self.u32)  // same name, other signedness
        target.add("foo", .structure(size: 4, members: members([("a", targetUnsigned, 0)])))
        let run = try Self.run(local: &local, target: &target, instructions: [Self.move(1), Self.move(1)], [
            Self.relocation(0, foo, "0", .typeExists), Self.relocation(1, foo, "0", .typeMatches)])
        #expect(run.resolutions.map(\.targetValue) == [1, 0])
    }

    @Test func ambiguousCandidatesAreAnError() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let foo = local.add("foo", .structure(size: 4, members: members([("a", int, 0)])))
        let targetInt = target.add("int", Self.s32)
        target.add("foo", .structure(size: 8, members: members([("a", targetInt, 0)])))
        target.add("foo___2", .structure(size: 8, members: members([("b", targetInt, 0), ("a", targetInt, 32)])))
        #expect {
            _ = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 0)],
                             [Self.relocation(0, foo, "0:0", .fieldByteOffset)])
        } throws: { error in
            let text = "\(error)"
            return text.contains("program probe: instruction 0: CO-RE byte_off of foo.a: ambiguous")
        }
    }

    @Test func candidatesThatDoNotMatchArePrunedNotAmbiguous() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let foo = local.add("foo", .structure(size: 8, members: members([("a", int, 0), ("b", int, 32)])))
        let targetInt = target.add("int", Self.s32)
        target.add("foo", .structure(size: 8, members: members([("a", targetInt, 32), ("b", targetInt, 0)])))
        target.add("foo___other", .structure(size: 8, members: members([("z", targetInt, 0)])))
        let run = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 0), Self.load32(offset: 4)],
                               [Self.relocation(0, foo, "0:0", .fieldByteOffset), Self.relocation(1, foo, "0:1", .fieldByteOffset)])
        #expect(run.resolutions.map(\.targetValue) == [4, 0])
    }

    @Test func anonymousMembersAndArraysInThePath() throws {
        // Object: struct outer { int pad; int arr[4]; }; reads outer.arr[2].
        // Kernel: the array moved into an anonymous union inside an anonymous struct.
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let index = local.add("__ARRAY_SIZE_TYPE__", Self.u32)
        let array = local.add("", .array(elementTypeID: int, indexTypeID: index, count: 4))
        let outer = local.add("outer", .structure(size: 20, members: members([("pad", int, 0), ("arr", array, 32)])))
        let targetInt = target.add("int", Self.s32)
        let targetIndex = target.add("__ARRAY_SIZE_TYPE__", Self.u32)
        let targetArray = target.add("", .array(elementTypeID: targetInt, indexTypeID: targetIndex, count: 8))
        let union = target.add("", .union(size: 32, members: members([("arr", targetArray, 0), ("raw", targetInt, 0)])))
        let inner = target.add("", .structure(size: 40, members: members([("x", targetInt, 0), ("", union, 64)])))
        target.add("outer", .structure(size: 48, members: members([("pad", targetInt, 0), ("", inner, 64)])))
        let run = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 12), Self.move(4)],
                               [Self.relocation(0, outer, "0:1:2", .fieldByteOffset), Self.relocation(1, outer, "0:1:2", .fieldByteSize)])
        // 8 (anonymous struct) + 8 (anonymous union) + 2 * 4.
        #expect(run.resolutions.map(\.targetValue) == [24, 4])
        #expect(run.resolutions[0].access == "outer.arr[2]")
        #expect(run.resolutions[0].targetPath == "0:1:1:0:2 @ bit 192")
        // Another element, the same path.
        let third = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 16)],
                                 [Self.relocation(0, outer, "0:1:3", .fieldByteOffset)])
        #expect(third.resolutions[0].targetValue == 28)
    }

    @Test func loadWidthFollowsUnsignedFieldsAndPoisonsSignedOnes() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let u32 = local.add("u32", Self.u32)
        let s32 = local.add("s32", Self.s32)
        let foo = local.add("foo", .structure(size: 8, members: members([("count", u32, 0), ("delta", s32, 32)])))
        let u64 = target.add("u64", Self.u64)
        let s64 = target.add("s64", .int(size: 8, encoding: 1, bitOffset: 0, bits: 64))
        target.add("foo", .structure(size: 16, members: members([("count", u64, 0), ("delta", s64, 64)])))
        let run = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 0), Self.load32(offset: 4)],
                               [Self.relocation(0, foo, "0:0", .fieldByteOffset), Self.relocation(1, foo, "0:1", .fieldByteOffset)])
        #expect(run.patched[0] == Instruction(opcode: 0x79, dst: 1, src: 2, offset: 0, imm: 0))  // now a u64 load
        #expect(run.resolutions[0].targetValue == 0)
        #expect(run.patched[1] == CORERelocator.poisonInstruction)
        #expect(run.resolutions[1].isPoisoned)
        #expect(run.resolutions[1].poisonReason?.contains("8 bytes in the target, 4 in the object") == true)
    }

    @Test func instructionNotHoldingTheObjectsValueIsAnError() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let outerNet = local.add("net", .structure(size: 4, members: members([("inum", int, 0)])))
        let sock = local.add("sock", .structure(size: 16, members: members([("mark", int, 0), ("net", outerNet, 64)])))
        let targetInt = target.add("int", Self.s32)
        let targetNet = target.add("net", .structure(size: 4, members: members([("inum", targetInt, 0)])))
        target.add("sock", .structure(size: 16, members: members([("mark", targetInt, 0), ("net", targetNet, 64)])))
        #expect {
            _ = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 12)],
                             [Self.relocation(0, sock, "0:1:0", .fieldByteOffset)])
        } throws: { error in
            "\(error)" == "program probe: instruction 0: CO-RE byte_off of sock.net.inum: instruction holds offset 12, the object's BTF says 8"
        }
    }

    @Test func malformedAccessStringsAreErrorsNotCrashes() throws {
        var local = BTFTypeBuilder(), target = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let foo = local.add("foo", .structure(size: 4, members: members([("a", int, 0)])))
        target.add("int", Self.s32)
        for access in ["0:5", "0:0:0", "1:0:", "", "0::0", "x", "-1"] {
            #expect(throws: CORERelocationError.self, "access \(access)") {
                _ = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 0)],
                                 [Self.relocation(0, foo, access, .fieldByteOffset)])
            }
        }
        // A type relocation must say "0".
        #expect(throws: CORERelocationError.self) {
            _ = try Self.run(local: &local, target: &target, instructions: [Self.move(1)], [Self.relocation(0, foo, "0:0", .typeExists)])
        }
    }

    @Test func splitBTFResolvesTypesOnlyAModuleHas() throws {
        var base = BTFTypeBuilder()
        base.add("int", Self.s32)
        base.add("sock", .structure(size: 4, members: members([("mark", 1, 0)])))
        let baseBytes = base.bytes()
        let vmlinux = try KernelBTF(vmlinux: baseBytes)
        // The module's ids continue after vmlinux's, its strings after vmlinux's string section.
        let baseStrings = Int(UInt32(baseBytes[20]) | UInt32(baseBytes[21]) << 8 | UInt32(baseBytes[22]) << 16 | UInt32(baseBytes[23]) << 24)
        var module = BTFTypeBuilder(firstID: 3, stringBase: baseStrings)
        module.add("nf_conn", .structure(size: 16, members: members([("pad", 1, 0), ("mark", 1, 96)])))
        let split = try KernelBTF(module: "nf_conntrack", bytes: module.bytes(), base: vmlinux)
        #expect(split.ownTypeIDs == 3..<4)
        #expect(try split.type(3)?.name == "nf_conn")
        #expect(try split.type(1)?.name == "int")

        var local = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let conn = local.add("nf_conn", .structure(size: 4, members: members([("mark", int, 0)])))
        let sock = local.add("sock", .structure(size: 4, members: members([("mark", int, 0)])))
        let program = ProgramSpec(name: "probe", sectionName: "x", kind: .unknown,
                                  instructions: [Self.load32(offset: 0), Self.move(Int32(conn)), Self.load32(offset: 0)],
                                  entryLength: 3, relocations: [], funcInfo: [], lineInfo: [], coreRelocations: [
                                      Self.relocation(0, conn, "0:0", .fieldByteOffset), Self.relocation(1, conn, "0", .targetTypeID),
                                      Self.relocation(2, sock, "0:0", .fieldByteOffset)])
        var relocator = CORERelocator(objectBTF: try local.localSpec(), target: CORETarget(vmlinux: vmlinux, modules: [split]))
        let resolutions = try relocator.resolve(program)
        #expect(resolutions.map(\.targetValue) == [12, 3, 0])
        #expect(resolutions.map(\.targetBTF) == ["nf_conntrack", "nf_conntrack", "vmlinux"])
    }

    @Test func hostileTargetBTFIsAnErrorNotACrash() throws {
        var target = BTFTypeBuilder()
        target.add("loop", .typedef(typeID: 2))
        target.add("loop2", .typedef(typeID: 1))
        target.add("foo", .structure(size: 4, members: members([("a", 1, 0), ("b", 99, 0)])))
        var local = BTFTypeBuilder()
        let int = local.add("int", Self.s32)
        let foo = local.add("foo", .structure(size: 8, members: members([("x", int, 0), ("a", int, 32)])))
        // Member `a` has a typedef loop for a type: the walk stops at depth 32.
        #expect(throws: CORERelocationError.self) {
            _ = try Self.run(local: &local, target: &target, instructions: [Self.load32(offset: 4)],
                             [Self.relocation(0, foo, "0:1", .fieldByteOffset)])
        }
        // Truncated or corrupt kernel BTF fails to index, with a message.
        let bytes = target.bytes()
        for length in stride(from: 0, to: bytes.count - 1, by: 3) {
            _ = try? KernelBTF(vmlinux: Array(bytes[0..<length]))
        }
        #expect(throws: ObjectReadError.self) { try KernelBTF(vmlinux: Array(bytes[0..<30])) }
    }

    /// What a `tp_btf/` loader looks up: the tracepoint's typedef, by exact name and kind.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"), "no /sys/kernel/btf/vmlinux"))
    func findsTheTracepointTypedefInThisKernel() throws {
        let btf = try KernelBTF(vmlinux: [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
        let ids = try btf.typeIDs(named: "btf_trace_tcp_retransmit_skb", kindNumber: 8)
        #expect(ids.count == 1)
        let id = try #require(ids.first)
        let typedef = try #require(try btf.type(id))
        guard case .typedef(let pointerID) = typedef.kind, case .pointer(let protoID)? = try btf.type(pointerID)?.kind,
              case .functionProto(_, let parameters)? = try btf.type(protoID)?.kind else {
            Issue.record("btf_trace_tcp_retransmit_skb is \(typedef.kind), not a typedef of a function pointer")
            return
        }
        // (void *, const struct sock *, const struct sk_buff *, int err), as KERNEL-NOTES.md records.
        // Parameters are unnamed in kernel BTF: check what each points at.
        let graph = TargetTypes(btf)
        func pointee(_ id: UInt32) throws -> String {
            guard case .pointer(let target)? = try btf.type(id)?.kind else { return "not a pointer" }
            return try graph.skippingModifiers(target).type?.cName ?? "void"
        }
        #expect(parameters.count == 4)
        if parameters.count == 4 {
            #expect(try pointee(parameters[0].typeID) == "void")
            #expect(try pointee(parameters[1].typeID) == "struct sock")
            #expect(try pointee(parameters[2].typeID) == "struct sk_buff")
            #expect(try graph.skippingModifiers(parameters[3].typeID).type?.name == "int")
        }
        #expect(try btf.typeIDs(named: "btf_trace_no_such_tracepoint", kindNumber: 8).isEmpty)
    }

    /// The real kernel: the offsets KERNEL-NOTES.md records from libbpf on this machine.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"), "no /sys/kernel/btf/vmlinux"),
          arguments: [Fixture.coreFields, .coreFieldsClang14])
    func resolvesAgainstThisKernel(_ fixture: Fixture) throws {
        let btf = try KernelBTF(vmlinux: [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
        #expect(btf.typeCount > 10_000)
        let object = try fixture.spec()
        let (relocated, resolutions) = try CORERelocator.relocate(object, target: CORETarget(vmlinux: btf))
        let byAccess = Dictionary((resolutions["core_fields"] ?? []).filter { $0.relocation.kind == .fieldByteOffset }
            .map { ($0.access, $0.targetValue) }, uniquingKeysWith: { first, _ in first })
        #expect(byAccess["sock.sk_mark"] == 524)
        #expect(byAccess["sock.__sk_common.skc_net.net"] == 48)
        #expect(byAccess["net.ns.inum"] == 176)
        #expect(byAccess["sk_buff.len"] == 112)
        #expect(byAccess["sock.sk_cgrp_data.cgroup"] == 672)
        #expect(byAccess["cgroup.kn"] == 256)
        #expect(byAccess["kernfs_node.id"] == 96)
        #expect(byAccess["sock___future.sk_field_from_the_future"] == .some(nil))
        #expect(relocated.programs[0].instructions != object.programs[0].instructions)
    }

    /// A damaged kernel BTF (seeded flips and every truncation of a real
    /// object's BTF, used as the target) resolves or fails, never traps.
    @Test(arguments: [Fixture.coreFields, .coreTypesClang14])
    func damagedTargetBTFNeverTraps(_ fixture: Fixture) throws {
        let object = try fixture.spec()
        let clean = try #require(object.btf?.kernelBytes)
        var outcomes = (resolved: 0, failed: 0)
        func attempt(_ bytes: [UInt8]) {
            do {
                let target = CORETarget(vmlinux: try KernelBTF(vmlinux: bytes))
                let (relocated, resolutions) = try CORERelocator.relocate(object, target: target)
                for program in relocated.programs {
                    _ = ProgramListing(program: program, object: relocated, coreResolutions: resolutions[program.name]).text
                }
                outcomes.resolved += 1
            } catch {
                outcomes.failed += 1
            }
        }
        for length in 0..<clean.count { attempt(Array(clean[0..<length])) }
        var random = SeededRandom(seed: 0xc0de + UInt64(clean.count))
        for _ in 0..<3000 {
            attempt(MalformedInputTests.flip(clean, in: 0..<min(clean.count, 24 + 40 * 60), using: &random))
        }
        attempt(clean)
        #expect(outcomes.resolved > 0 && outcomes.failed > 0)
    }
}
