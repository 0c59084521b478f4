/// Moving `.BTF.ext` records from section byte offsets to program slots.
///
/// Each function copied into a program takes the records that fall inside
/// it. The records of a section are sorted once, and each function finds its
/// own by binary search: a section with thousands of functions and records
/// costs (records + functions x log records), not their product.
extension ProgramLinker {
    struct SortedBTFExtRecords {
        /// By byte offset; records at the same offset keep their file order.
        let funcInfo: [FuncInfo]
        let lineInfo: [LineInfo]
        let coreRelocations: [BTFExtParser.RawCORERelocation]

        init(_ records: BTFExtParser.SectionRecords) {
            funcInfo = Self.stableSorted(records.funcInfo) { $0.instructionOffset }
            lineInfo = Self.stableSorted(records.lineInfo) { $0.instructionOffset }
            coreRelocations = Self.stableSorted(records.coreRelocations) { $0.instructionOffset }
        }

        /// By closure, not key path (a key path is applied through the runtime: the sorts cost
        /// 0.7 M instructions at start-up); clang writes the records in order, so most
        /// sections are only checked.
        private static func stableSorted<Record>(_ records: [Record], by offset: (Record) -> UInt32) -> [Record] {
            if zip(records, records.dropFirst()).allSatisfy({ offset($0) <= offset($1) }) { return records }
            return records.enumerated()
                .sorted { (offset($0.element), $0.offset) < (offset($1.element), $1.offset) }
                .map(\.element)
        }
    }

    /// The `.BTF.ext` records of every function in the layout, in program slots.
    /// CO-RE relocations keep their order within each function (libbpf numbers
    /// them `relo #k` in that order), functions in layout order.
    func btfExtRecords(for layout: [(function: Function, start: Int)]) throws(ObjectReadError)
        -> (funcInfo: [FuncInfo], lineInfo: [LineInfo], coreRelocations: [CORERelocation]) {
        var funcInfo: [FuncInfo] = []
        var lineInfo: [LineInfo] = []
        var coreRelocations: [CORERelocation] = []
        for (function, start) in layout {
            guard let section = codeSections[function.sectionIndex],
                  let records = btfExtRecords[section.header.name] else { continue }
            let bytes = Self.byteRange(of: function)
            for record in records.funcInfo[Self.range(in: records.funcInfo, by: { $0.instructionOffset }, within: bytes)] {
                let slot = try programSlot(record.instructionOffset, function: function, start: start, section: section)
                funcInfo.append(FuncInfo(instructionOffset: slot, typeID: record.typeID))
            }
            for record in records.lineInfo[Self.range(in: records.lineInfo, by: { $0.instructionOffset }, within: bytes)] {
                var moved = record
                moved.instructionOffset = try programSlot(record.instructionOffset, function: function, start: start, section: section)
                lineInfo.append(moved)
            }
            for record in records.coreRelocations[
                Self.range(in: records.coreRelocations, by: { $0.instructionOffset }, within: bytes)] {
                let slot = try programSlot(record.instructionOffset, function: function, start: start, section: section)
                coreRelocations.append(CORERelocation(instructionIndex: Int(slot), localTypeID: record.localTypeID,
                                                      accessString: record.accessString, kind: record.kind))
            }
        }
        funcInfo.sort { $0.instructionOffset < $1.instructionOffset }
        lineInfo.sort { $0.instructionOffset < $1.instructionOffset }
        return (funcInfo, lineInfo, coreRelocations)
    }

    /// The byte offsets `[start*8, (start+count)*8)` a function covers in its section.
    private static func byteRange(of function: Function) -> Range<UInt64> {
        UInt64(function.start) * 8 ..< UInt64(function.start + function.count) * 8
    }

    /// Positions in `sorted` whose offset lies in `bytes`.
    private static func range<Record>(in sorted: [Record], by offset: (Record) -> UInt32,
                                      within bytes: Range<UInt64>) -> Range<Int> {
        func firstPosition(notBelow value: UInt64) -> Int {
            var low = 0
            var high = sorted.count
            while low < high {
                let middle = low + (high - low) / 2
                if UInt64(offset(sorted[middle])) < value { low = middle + 1 } else { high = middle }
            }
            return low
        }
        let lower = firstPosition(notBelow: bytes.lowerBound)
        return lower ..< max(lower, firstPosition(notBelow: bytes.upperBound))
    }

    /// Converts a `.BTF.ext` byte offset inside `function` to a slot in the program.
    private func programSlot(_ byteOffset: UInt32, function: Function, start: Int,
                             section: CodeSection) throws(ObjectReadError) -> UInt32 {
        guard byteOffset % 8 == 0 else {
            throw ObjectReadError(section: BTFExtParser.section, offset: 0,
                                  reason: "record for \(section.header.displayName) at byte \(byteOffset) is not on an instruction boundary")
        }
        let sectionSlot = Int(byteOffset / 8)
        guard let slot = UInt32(exactly: start + sectionSlot - function.start) else {
            throw ObjectReadError(section: BTFExtParser.section, offset: 0,
                                  reason: "record for \(section.header.displayName) at byte \(byteOffset) lands past instruction \(UInt32.max)")
        }
        return slot
    }
}
