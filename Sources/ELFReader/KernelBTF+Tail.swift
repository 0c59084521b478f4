/// Walking vmlinux's records in two halves, side by side.
///
/// Why: the walk over vmlinux's ~127,000 records (`KernelBTF.walk`) is the longest step
/// before the programs can load, and one CPU does it while the others wait. Where the
/// second half's records begin is known only once the first half has been walked (a
/// record's length follows from its header), so the second walker guesses: from the middle
/// of the type section it looks for the first offset where sixteen records in a row look
/// like records (a known kind, the header bits BTF leaves unused zero, a `vlen` the kind
/// allows, a name that starts a string), and walks from there to the end, counting records
/// from its start.
///
/// The first walker stops at the first record at or past that offset. If it landed on it,
/// the guess was a record boundary, so the second walker's records are the layer's from
/// there: its ids are shifted by the first walker's count, and its checkpoints kept beside
/// the first's (`Checkpoints`). If not (an offset inside a record that happened to look like
/// sixteen), or if the second walker met a malformed record, the first walks on by itself.
/// Either way the index is the one walk's, which `KernelBTFTailTests` checks.
///
/// ELFReader starts no thread: the loader runs `walkTail` on one of its own
/// (`RunningKernelBTF`) and hands `init(vmlinux:indexing:joining:)` a way to wait for it.
extension KernelBTF {
    /// The second walker's outcome.
    public struct Tail: Sendable {
        /// The offset it started from: a guess at a record boundary.
        public let start: Int
        let keys: Set<CandidateKey>
        let outcome: Result<Records, ObjectReadError>
    }

    /// The records from a tail's start to the end: ids and indexes counted from 0 at the start.
    struct Records: Sendable {
        var walk: Walk
        var found: [CandidateKey: [UInt32]]
    }

    /// What `init(vmlinux:indexing:joining:)` needs of a tail walked elsewhere: where it
    /// starts (the first walk stops there), and a way to wait for it (nil: it did not finish).
    public struct TailHandle {
        public let start: Int
        let wait: () -> Tail?

        public init(start: Int, wait: @escaping () -> Tail?) {
            self.start = start
            self.wait = wait
        }

        /// The tail's records, if it walked from this start to the end for the same keys.
        func records(for keys: Set<CandidateKey>) -> Records? {
            guard let tail = wait(), tail.start == start, tail.keys == keys,
                  case .success(let records) = tail.outcome else { return nil }
            return records
        }
    }

    /// Below this many bytes of records (vmlinux has ~3 MB) a second thread costs more than it saves.
    static let minimumTypeBytesToSplit = 1 << 18
    /// How far past the middle a record boundary is looked for, and how many records in a row must look right.
    static let tailSearchBytes = 4096
    static let tailRecordsChecked = 16

    /// Where a second walker should start on these bytes, or nil: a header that does not
    /// read, too few records, or nothing near the middle that looks like a record boundary.
    public static func tailStart(vmlinux bytes: any ByteStorage) -> Int? {
        tailStart(vmlinux: bytes, minimumTypeBytes: minimumTypeBytesToSplit)
    }

    static func tailStart(vmlinux bytes: any ByteStorage, minimumTypeBytes: Int) -> Int? {
        bytes.withSpan { (span: Span<UInt8>) -> Int? in
            guard let sections = try? Self.sections(of: span, context: "BTF vmlinux", stringBase: 0),
                  sections.typeEnd - sections.typeStart >= max(minimumTypeBytes, 12) else { return nil }
            // Every record's length is a multiple of 4, so its offset is the section's plus a multiple of 4.
            var candidate = sections.typeStart + (sections.typeEnd - sections.typeStart) / 8 * 4
            let searchEnd = min(sections.typeEnd, candidate + tailSearchBytes)
            while candidate < searchEnd {
                if looksLikeRecords(at: candidate, in: span, sections: sections) { return candidate }
                candidate += 4
            }
            return nil
        }
    }

    /// Whether `tailRecordsChecked` records in a row from `start` (or all up to the section's
    /// end) look like vmlinux's: what any BTF the kernel accepted satisfies, and bytes in the
    /// middle of a record rarely do sixteen times over.
    static func looksLikeRecords(at start: Int, in bytes: Span<UInt8>, sections: Sections) -> Bool {
        var position = start
        for _ in 0 ..< tailRecordsChecked {
            if position == sections.typeEnd { return true }
            guard sections.typeEnd - position >= 12 else { return false }
            let nameOffset = Int(bytes.littleEndianU32(at: position))
            let info = bytes.littleEndianU32(at: position + 4)
            // Bits 16-23 and 29-30 of `info` are unused (include/uapi/linux/btf.h).
            guard info & 0x60ff_0000 == 0, let length = recordLength(info: info),
                  length <= sections.typeEnd - position else { return false }
            let vlen = info & 0xffff
            switch (info >> 24) & 0x1f {
            case 1, 2, 3, 7, 8, 9, 10, 11, 14, 16, 17, 18: guard vlen == 0 else { return false }
            case 12: guard vlen <= 2 else { return false }  // a FUNC's linkage: static, global, extern
            default: break
            }
            // No name, or the first byte of a string of this BTF's own table.
            guard nameOffset < sections.stringLength,
                  nameOffset == 0 || bytes[sections.stringStart + nameOffset - 1] == 0 else { return false }
            position += length
        }
        return true
    }

    /// Walks vmlinux's records from `start` to the end for `keys`, as the first walk would
    /// have, but counting from 0 at `start`. Meant for another thread; never throws (a
    /// malformed record, or a `start` that is no record boundary, is the tail's outcome).
    public static func walkTail(vmlinux bytes: any ByteStorage, from start: Int, indexing keys: Set<CandidateKey>) -> Tail {
        let context = "BTF vmlinux"
        let query = NameQuery(keys)
        let outcome = Result { () throws(ObjectReadError) -> Records in
            try bytes.withSpan { (span: Span<UInt8>) throws(ObjectReadError) -> Records in
                let sections = try Self.sections(of: span, context: context, stringBase: 0)
                guard start >= sections.typeStart, start < sections.typeEnd, (start - sections.typeStart) % 4 == 0 else {
                    throw ObjectReadError(section: context, offset: UInt64(max(0, start)),
                                          reason: "a tail walk cannot start here: not a record offset in the type section")
                }
                let walk = try Self.walk(sections, from: start, until: sections.typeEnd, firstIndex: 0, firstTypeID: 0,
                                         context: context, bytes: span, baseStrings: nil, baseBytes: span, query: query)
                var found: [CandidateKey: [UInt32]] = [:]
                for (index, key) in query.keys.enumerated() { found[key] = walk.found[index] }
                return Records(walk: walk, found: found)
            }
        }
        return Tail(start: start, keys: keys, outcome: outcome)
    }
}
