import ELFReader

/// Takes a spec through everything `retrans-exporter inspect --disassemble`
/// touches: listings, the disassembler with and without annotations, BTF
/// type and string lookups, map and relocation descriptions. Shared by the
/// fuzzer and by the test that replays its findings, so both run the same code.
public enum InspectWalk {
    /// Visits `object`; returns a number derived from everything produced, so
    /// the optimizer cannot drop the work.
    @discardableResult
    public static func visit(_ object: ObjectSpec) -> Int {
        var digest = object.license.utf8.count &+ Int(object.kernelVersion ?? 0)
        for program in object.programs {
            digest &+= visit(program, in: object)
        }
        for map in object.maps {
            digest &+= map.type.description.utf8.count &+ map.name.utf8.count
            for variable in map.variables { digest &+= variable.name.utf8.count &+ Int(variable.offset) }
        }
        if let btf = object.btf { digest &+= visit(btf) }
        digest &+= visitCORE(object)
        return digest
    }

    /// CO-RE as `inspect --target-btf` runs it, with the object's own (fuzzed)
    /// BTF as the hostile target: indexing, candidate search, matching,
    /// patching and the listing with resolved values. Errors are expected;
    /// traps and hangs are the findings.
    public static func visitCORE(_ object: ObjectSpec) -> Int {
        guard let btf = object.btf, object.programs.contains(where: { !$0.coreRelocations.isEmpty }) else { return 0 }
        var digest = 0
        for program in object.programs {
            for relocation in program.coreRelocations {
                digest &+= relocation.kind.name.utf8.count &+ (relocation.accessIndices?.count ?? -1)
                if let description = try? CORERelocator.describe(relocation, objectBTF: btf, program: program.name) {
                    digest &+= description.access.utf8.count &+ Int(truncatingIfNeeded: description.localValue)
                }
            }
        }
        // The object's own BTF as the target: indexed for the relocations' names, as the loader
        // indexes the kernel's, and also searched by a later walk.
        let keys = CORERelocator.candidateKeys(for: object.programs, objectBTF: btf)
        if let walked = try? KernelBTF(vmlinux: btf.kernelBytes), let found = try? walked.candidates(for: keys) {
            digest &+= found.count
        }
        guard let target = try? KernelBTF(vmlinux: btf.kernelBytes, indexing: keys) else { return digest }
        do {
            let (relocated, resolutions) = try CORERelocator.relocate(object, target: CORETarget(vmlinux: target))
            for program in relocated.programs {
                let listing = ProgramListing(program: program, object: relocated, coreResolutions: resolutions[program.name])
                digest &+= listing.text.utf8.count
            }
        } catch {
            digest &+= error.description.utf8.count
        }
        return digest
    }

    /// Keeps a computed value alive without printing it.
    public static func consume(_ text: String) {
        if text.utf8.count == Int.min { print(text) }
    }

    private static func visit(_ program: ProgramSpec, in object: ObjectSpec) -> Int {
        var digest = program.kind.attachPointDescription.utf8.count &+ Int(program.kind.programType ?? 0)
        let listing = ProgramListing(program: program, object: object)
        digest &+= listing.text.utf8.count &+ listing.lines.count

        // The plain disassembler on every slot, as llvm-objdump would print it,
        // including second halves of ld_imm64 read as instructions of their own.
        for (index, instruction) in program.instructions.enumerated() {
            let next = index + 1 < program.instructions.count ? program.instructions[index + 1] : nil
            digest &+= Disassembler.format(instruction, next: next).utf8.count
            digest &+= Disassembler.slotCount(instruction) &+ instruction.bytes.count
        }
        for relocation in program.relocations {
            digest &+= describe(relocation.target, object: object).utf8.count
            if program.instructions.indices.contains(relocation.instructionIndex) {
                let instruction = program.instructions[relocation.instructionIndex]
                let annotations = Disassembler.Annotations(relocation: relocation.target, targetLabel: "L")
                digest &+= Disassembler.format(instruction, annotations: annotations).utf8.count
            }
        }
        if let btf = object.btf {
            // string(at:) costs the length of what it returns, so a caller that
            // asks once per record pays records x length; the listing caches.
            // Here: a bounded sample of distinct offsets.
            var offsets = Set<UInt32>()
            for info in program.lineInfo where offsets.count < 64 {
                offsets.insert(info.fileNameOffset)
                offsets.insert(info.lineOffset)
                digest &+= Int(info.line) &+ Int(info.column)
            }
            for offset in offsets { digest &+= btf.string(at: offset)?.utf8.count ?? 0 }
            for info in program.funcInfo {
                digest &+= btf.type(id: info.typeID)?.name.utf8.count ?? 0
            }
        }
        return digest
    }

    /// As `inspect` names relocation targets (`.rodata+0 (name)`, `f at instruction 12`).
    private static func describe(_ target: RelocationTarget, object: ObjectSpec) -> String {
        switch target {
        case .map(let name):
            return name + (object.map(named: name)?.type.description ?? "")
        case .mapValue(let mapName, let offset):
            let variable = object.map(named: mapName)?.variables.first { $0.offset == offset }?.name
            return "\(mapName)+\(offset)" + (variable.map { " (\($0))" } ?? "")
        case .call(let function, let index):
            return "\(function) at instruction \(index)"
        }
    }

    private static func visit(_ btf: BTFSpec) -> Int {
        var digest = btf.kernelBytes.count &+ btf.strings.count
        var kindCounts: [Int: Int] = [:]
        for type in btf.types {
            kindCounts[type.kind.number, default: 0] += 1
            digest &+= type.kind.name.utf8.count &+ type.name.utf8.count
            for referenced in referencedIDs(type.kind) {
                digest &+= btf.type(id: referenced)?.name.utf8.count ?? 1
            }
        }
        // Edges of the id space and the string table.
        let count = UInt32(clamping: btf.types.count)
        for id in [0, 1, count, count &+ 1, UInt32.max] {
            digest &+= btf.type(id: id)?.id == id ? 1 : 0
        }
        let stringCount = UInt32(clamping: btf.strings.count)
        for offset in [0, 1, stringCount &- 1, stringCount, UInt32.max] {
            digest &+= btf.string(at: offset)?.utf8.count ?? 0
        }
        return digest &+ kindCounts.count
    }

    /// Every type id a record points at.
    static func referencedIDs(_ kind: BTFKind) -> [UInt32] {
        switch kind {
        case .int, .forward, .float, .enumeration, .enumeration64:
            return []
        case .pointer(let id), .typedef(let id), .volatile(let id), .const(let id), .restrict(let id),
             .typeTag(let id), .function(let id, _), .variable(let id, _), .declTag(let id, _):
            return [id]
        case .array(let element, let index, _):
            return [element, index]
        case .structure(_, let members), .union(_, let members):
            return members.map(\.typeID)
        case .functionProto(let returnID, let parameters):
            return [returnID] + parameters.map(\.typeID)
        case .dataSection(_, let variables):
            return variables.map(\.typeID)
        }
    }
}
