/// What each relocation of a program instruction refers to.
///
/// Two kinds matter in a BPF object:
/// - `R_BPF_64_64` on an `ld_imm64`: the address of a map (a symbol in
///   `.maps` or `maps`) or of a global variable (a symbol in `.rodata`,
///   `.data`, `.bss`). The loader replaces it with a map fd, or a map fd plus
///   an offset into the data section's single value.
/// - `R_BPF_64_32` on a call: a bpf-to-bpf call, resolved here by linking.
extension ProgramLinker {
    /// Where a map symbol sits: the section and its offset there.
    struct MapSymbolKey: Hashable {
        let sectionIndex: Int
        let value: UInt64
    }

    /// The first non-section symbol at each (section, offset): what a section-relative
    /// map reference names. Indexed once, since every program re-classifies its relocations.
    static func mapSymbolNames(_ symbols: [Symbol]) -> [MapSymbolKey: String] {
        var names: [MapSymbolKey: String] = [:]
        for symbol in symbols where !symbol.isSectionSymbol {
            let key = MapSymbolKey(sectionIndex: Int(symbol.sectionIndex), value: symbol.value)
            if names[key] == nil { names[key] = symbol.name }
        }
        return names
    }

    enum ClassifiedRelocation {
        case data(RelocationTarget)
        case call(sectionIndex: Int, slot: Int)
    }

    /// What a relocation of a program instruction refers to.
    func classify(_ raw: RawRelocation, instruction: Instruction,
                  fail: (String) -> ObjectReadError) throws(ObjectReadError) -> ClassifiedRelocation {
        guard raw.symbolIndex > 0, raw.symbolIndex <= symbols.count else {
            throw fail("relocation names symbol \(raw.symbolIndex), which does not exist")
        }
        let symbol = symbols[raw.symbolIndex - 1]
        let symbolName = symbol.isSectionSymbol ? "section symbol \(symbol.index)" : symbol.name
        guard let targetSection = elf.section(at: Int(symbol.sectionIndex)) else {
            throw fail("refers to undefined symbol \(symbolName): extern variables and kernel functions (.kconfig, .ksyms) are not supported")
        }

        switch raw.type {
        case ELF.relocationBPF64_64:
            guard instruction.isLoadImmediate64 else {
                throw fail("R_BPF_64_64 on opcode 0x\(String(instruction.opcode, radix: 16)), expected ld_imm64 (0x18)")
            }
            if targetSection.name == BTFMapDefinitions.sectionName || targetSection.name == LegacyMapDefinitions.sectionName {
                return .data(.map(name: try mapName(symbol: symbol, instruction: instruction, section: targetSection, fail: fail)))
            }
            if DataSectionMaps.isDataSection(targetSection.name) {
                // A named variable has its offset in the symbol; a static one is
                // the section symbol plus an offset clang leaves in `imm`.
                guard symbol.value <= UInt64(UInt32.max) else {
                    throw fail("symbol \(symbolName) value \(symbol.value) is out of range for \(targetSection.name)")
                }
                let offset = Int64(symbol.value) + Int64(instruction.imm)
                guard let offset32 = UInt32(exactly: offset), UInt64(offset32) < targetSection.size else {
                    throw fail("offset \(offset) into \(targetSection.name) is outside the section (\(targetSection.size) bytes)")
                }
                return .data(.mapValue(mapName: targetSection.name, offset: offset32))
            }
            if targetSection.isExecutable {
                throw fail("takes the address of function \(symbolName) (callbacks such as bpf_loop are not supported)")
            }
            throw fail("refers to \(symbolName) in section \(targetSection.displayName), which holds neither maps nor global data")

        case ELF.relocationBPF64_32:
            guard instruction.isFunctionCall else {
                throw fail("R_BPF_64_32 on an instruction that is not a bpf-to-bpf call")
            }
            guard targetSection.isExecutable else {
                throw fail("call to \(symbolName) in non-executable section \(targetSection.displayName)")
            }
            // libbpf's rule: callee slot = symbol slot + imm + 1. For a function
            // symbol clang writes imm = -1; for a section symbol imm carries the offset.
            guard symbol.value % 8 == 0, let symbolSlot = Int(exactly: symbol.value / 8) else {
                throw fail("call target \(symbolName) at byte \(symbol.value) is not on an instruction boundary")
            }
            return .call(sectionIndex: targetSection.index, slot: symbolSlot + Int(instruction.imm) + 1)

        default:
            throw fail("unsupported relocation \(ELF.relocationTypeName(raw.type)) against \(symbolName)")
        }
    }

    /// The map an ld_imm64 refers to: the symbol's own name, or for a section
    /// symbol, the map symbol at the offset clang left in `imm`.
    private func mapName(symbol: Symbol, instruction: Instruction, section: SectionHeader,
                         fail: (String) -> ObjectReadError) throws(ObjectReadError) -> String {
        guard symbol.isSectionSymbol else { return symbol.name }
        let offset = UInt64(UInt32(bitPattern: instruction.imm))
        guard let name = mapSymbolNames[MapSymbolKey(sectionIndex: section.index, value: offset)] else {
            throw fail("no map symbol at offset \(offset) of \(section.name)")
        }
        return name
    }
}
