/// Fills in what clang leaves as 0 in DATASEC records.
///
/// clang emits each DATASEC (`.maps`, `.rodata`, ...) with size 0 and each
/// variable's offset 0: only the linker would know them. The kernel rejects
/// that, so loaders patch them from the ELF section sizes and the symbol
/// values before `BPF_BTF_LOAD`. This patches both the raw bytes
/// (`kernelBytes`) and the parsed types, so the two always agree.
enum BTFDataSectionFixup {
    /// A variable's symbol: same name, same section.
    private struct SymbolKey: Hashable {
        let name: String
        let sectionIndex: Int
    }

    static func apply(to btf: inout BTFParser.Result, elf: ELFFile, symbols: [Symbol]) throws(ObjectReadError) {
        guard !btf.dataSections.isEmpty else { return }
        var bytes = btf.spec.kernelBytes
        // Indexed once: a hostile file may pair thousands of variables with thousands of symbols.
        var symbolsByKey: [SymbolKey: Symbol] = [:]
        for symbol in symbols where !symbol.isSectionSymbol {
            let key = SymbolKey(name: symbol.name, sectionIndex: Int(symbol.sectionIndex))
            if symbolsByKey[key] == nil { symbolsByKey[key] = symbol }
        }
        for record in btf.dataSections {
            // A DATASEC without an ELF section (e.g. `.kconfig` externs) is left alone.
            guard let section = elf.section(named: record.name),
                  let typeIndex = Int(exactly: record.typeID - 1), typeIndex < btf.spec.types.count,
                  case .dataSection(_, var variables) = btf.spec.types[typeIndex].kind else { continue }
            guard let size = UInt32(exactly: section.size) else {
                throw ObjectReadError(section: section.displayName, offset: 0,
                                      reason: "size \(section.size) does not fit a BTF DATASEC (32 bits)")
            }
            write(size, into: &bytes, at: record.sizeFieldOffset)

            for (index, variable) in variables.enumerated() {
                guard let variableType = btf.spec.type(id: variable.typeID), case .variable = variableType.kind,
                      let symbol = symbolsByKey[SymbolKey(name: variableType.name, sectionIndex: section.index)]
                else { continue }
                guard let offset = UInt32(exactly: symbol.value) else {
                    throw ObjectReadError(section: section.displayName, offset: 0,
                                          reason: "symbol \(symbol.name) value \(symbol.value) does not fit a BTF offset")
                }
                variables[index].offset = offset
                // btf_var_secinfo is (type, offset, size): offset is the second word.
                write(offset, into: &bytes, at: record.variablesOffset + index * 12 + 4)
            }
            btf.spec.types[typeIndex].kind = .dataSection(size: size, variables: variables)
        }
        btf.spec.kernelBytes = bytes
    }

    /// Offsets come from the parser, which already checked they are in range.
    private static func write(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        guard offset >= 0, offset <= bytes.count - 4 else { return }
        for shift in 0..<4 {
            bytes[offset + shift] = UInt8(truncatingIfNeeded: value >> (8 * shift))
        }
    }
}
