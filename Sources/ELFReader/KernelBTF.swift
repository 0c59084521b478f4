/// A kernel's BTF (`/sys/kernel/btf/vmlinux`, or a module's split BTF under
/// `/sys/kernel/btf/<module>`), read lazily: CO-RE needs a handful of its
/// ~130,000 types, so decoding all of them (5.5 MB) would cost more than the
/// whole start-up budget.
///
/// A type's id is its position in the type section, and records differ in
/// length, so finding any id takes one walk over the record headers (a
/// record's length follows from its kind and vlen). `init` makes that walk
/// once, and on the way:
///
/// - keeps the offset of every 32nd record (a checkpoint), so that `type(_:)`
///   later decodes one record by walking at most 31 headers from the nearest
///   checkpoint;
/// - notes the ids of the types named in `indexing` (the loader passes the
///   names its relocations and attach points will ask for), so that
///   `candidates(for:)` answers those from a table instead of a second walk.
///
/// The walk decodes nothing and makes no strings: a record is rejected on its
/// kind, then on the first byte of its name, and only the few that pass are
/// compared byte by byte. The bytes stay where the loader keeps them
/// (`ByteStorage`: an array, or a mapping of the sysfs file); the reader opens
/// no file and copies only the records it decodes.
///
/// Split BTF (modules): type ids continue after the base's last id, and
/// string offsets below the base's string section size refer to the base's
/// strings (`tools/lib/bpf/btf.c`, `btf_new` with a base).
public struct KernelBTF: Sendable {
    /// "vmlinux", or the module's name: shown in messages and resolutions.
    public let name: String
    /// This BTF's own records.
    let own: Layer
    /// For split BTF, the base's (vmlinux); nil for vmlinux itself.
    let base: Layer?
    /// `base?.sections`, kept apart: reading it through the optional layer would copy (retain
    /// and release) the whole layer at every name `type(_:)` decodes.
    private let baseSections: Sections?
    /// Candidates found while indexing, for every key `init` was given (empty lists included).
    private let indexed: [CandidateKey: [UInt32]]

    /// One BTF blob: its bytes, where its sections are, and the checkpoints of its records.
    struct Layer: Sendable {
        let name: String
        /// "BTF <name>", the section named in this layer's errors (made once: `type(_:)` needs it at every call).
        let context: String
        let storage: any ByteStorage
        let sections: Sections
        /// Id of this layer's first record.
        let firstTypeID: UInt32
        let typeCount: Int
        let checkpoints: Checkpoints
    }

    /// Where to start reading a record: the byte offsets of every 32nd record, as one walk kept
    /// them, or two (`KernelBTF+Tail.swift`: the second from a record boundary half-way, whose
    /// records it counted from there).
    struct Checkpoints: Sendable {
        /// Offset of record `k * checkpointInterval` (counted from the layer's first), for each k.
        var head: [UInt32]
        /// Offset of record `tailFirstIndex + k * checkpointInterval`, for each k: the second walk's.
        var tail: [UInt32] = []
        var tailFirstIndex = Int.max

        /// The checkpoint at or before record `index`, and how many records lie between.
        func nearest(_ index: Int) -> (offset: UInt32, recordsAfter: Int) {
            let (table, local) = index >= tailFirstIndex ? (tail, index - tailFirstIndex) : (head, index)
            return (table[local / KernelBTF.checkpointInterval], local % KernelBTF.checkpointInterval)
        }
    }

    /// Where a layer's records and strings lie in its bytes (from its header).
    struct Sections: Sendable {
        var typeStart: Int
        var typeEnd: Int
        var stringStart: Int
        var stringLength: Int
        /// Where these strings start in the shared (base + split) offset space: 0 for a base.
        var stringBase: Int
    }

    /// Records between checkpoints: 4,000 offsets (16 KB) for vmlinux instead of 130,000,
    /// and at most 31 headers to walk per decoded type.
    static let checkpointInterval = 32

    /// vmlinux BTF: a base, ids from 1. `indexing`: the names to look up on the way (see the type's comment).
    /// `joining`: the second half of the records, walked meanwhile on another thread (`KernelBTF+Tail.swift`).
    public init(vmlinux bytes: any ByteStorage, indexing keys: Set<CandidateKey> = [],
                joining tail: TailHandle? = nil) throws(ObjectReadError) {
        name = "vmlinux"
        base = nil
        baseSections = nil
        (own, indexed) = try Self.index("vmlinux", bytes, firstTypeID: 1, stringBase: 0, base: nil, keys: keys, tail: tail)
    }

    /// A module's split BTF on top of `base` (vmlinux).
    public init(module name: String, bytes: any ByteStorage, base: KernelBTF,
                indexing keys: Set<CandidateKey> = []) throws(ObjectReadError) {
        self.name = name
        guard base.base == nil else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0,
                                  reason: "base BTF \(base.name) is itself split BTF (only vmlinux can be a base)")
        }
        let top = base.own
        guard let firstID = UInt32(exactly: UInt64(top.firstTypeID) + UInt64(top.typeCount)) else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0, reason: "base BTF has too many types")
        }
        self.base = top
        baseSections = top.sections
        (own, indexed) = try Self.index(name, bytes, firstTypeID: firstID,
                                        stringBase: top.sections.stringBase + top.sections.stringLength, base: top, keys: keys)
    }

    /// Ids of this BTF's own types (for a module, not its base's).
    public var ownTypeIDs: Range<UInt32> {
        own.firstTypeID ..< own.firstTypeID + UInt32(own.typeCount)
    }

    /// How many ids are valid, void included (libbpf's `btf__type_cnt`).
    public var typeCount: Int { Int(ownTypeIDs.upperBound) }

    // MARK: - One type

    /// Decodes type `id`; nil for 0 (`void`); throws for ids past the end or a malformed record.
    public func type(_ id: UInt32) throws(ObjectReadError) -> BTFType? {
        guard id != 0 else { return nil }
        let inBase = id < own.firstTypeID
        guard let layer = inBase ? base : own, id >= layer.firstTypeID, Int(id - layer.firstTypeID) < layer.typeCount else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0,
                                  reason: "type \(id) does not exist (there are \(typeCount - 1))")
        }
        return try withBytes { (ownBytes: Span<UInt8>, baseBytes: Span<UInt8>) throws(ObjectReadError) -> BTFType in
            let bytes = inBase ? baseBytes : ownBytes
            let context = layer.context
            let index = Int(id - layer.firstTypeID)
            // From the checkpoint at or before the record, header by header.
            let checkpoint = layer.checkpoints.nearest(index)
            var position = Int(checkpoint.offset)
            var length = try Self.recordHeader(at: position, in: bytes, sections: layer.sections, context: context, id: UInt64(id)).length
            for _ in 0 ..< checkpoint.recordsAfter {
                position += length
                length = try Self.recordHeader(at: position, in: bytes, sections: layer.sections, context: context, id: UInt64(id)).length
            }
            // The record alone, through the decoder the object's BTF uses (offsets in errors stay the file's).
            var reader = ByteReader(bytes.copy(position ..< position + length), context: context, origin: UInt64(position))
            return try BTFParser.readType(&reader, id: id) { (nameOffset: UInt32) throws(ObjectReadError) -> String in
                try string(at: nameOffset, own: ownBytes, base: baseBytes)
            }
        }
    }

    /// The string at `offset` of the shared (base + split) string space.
    private func string(at offset: UInt32, own ownBytes: Span<UInt8>, base baseBytes: Span<UInt8>) throws(ObjectReadError) -> String {
        let place = try stringPlace(offset)
        let strings = place.inBase ? baseBytes : ownBytes
        let limit = min(place.tableEnd, place.start + StringTable.maximumLength + 1)
        var end = place.start
        while end < limit && strings[end] != 0 { end += 1 }
        guard end < place.tableEnd, end - place.start <= StringTable.maximumLength else {
            throw ObjectReadError(section: "BTF \(place.inBase ? base?.name ?? "" : own.name) strings", offset: UInt64(offset),
                                  reason: "string is not NUL-terminated or longer than \(StringTable.maximumLength) bytes")
        }
        // Valid UTF-8 (every kernel name) becomes a String straight from the bytes, without an
        // array per name; anything else is repaired as `String(decoding:)` repairs it.
        if #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            do {
                return String(copying: try UTF8Span(validating: strings.extracting(place.start ..< end)))
            } catch {}
        }
        return String(decoding: strings.copy(place.start ..< end), as: UTF8.self)
    }

    /// Where string `offset` of the shared space lies: in the base's bytes or this layer's,
    /// from which byte, and where that string table ends.
    private func stringPlace(_ offset: UInt32) throws(ObjectReadError) -> (inBase: Bool, start: Int, tableEnd: Int) {
        try Self.stringPlace(offset, own: own.sections, base: baseSections, context: own.context)
    }

    /// Runs `body` with this BTF's bytes and its base's (for vmlinux, its own bytes twice).
    private func withBytes<Result>(_ body: (_ own: Span<UInt8>, _ base: Span<UInt8>) throws(ObjectReadError) -> Result)
        throws(ObjectReadError) -> Result {
        try own.storage.withSpan { (ownBytes: Span<UInt8>) throws(ObjectReadError) -> Result in
            guard let base else { return try body(ownBytes, ownBytes) }
            return try base.storage.withSpan { (baseBytes: Span<UInt8>) throws(ObjectReadError) -> Result in
                try body(ownBytes, baseBytes)
            }
        }
    }

    // MARK: - Candidates by name, without decoding

    /// What a CO-RE candidate search asks for: a kind and an essential name
    /// (the part before a `___flavor` suffix).
    public struct CandidateKey: Hashable, Sendable {
        /// `BTF_KIND_*`, with ENUM64 folded into ENUM (libbpf treats them as one).
        public var kindClass: Int
        public var essentialName: String
        public init(kindClass: Int, essentialName: String) {
            self.kindClass = kindClass
            self.essentialName = essentialName
        }

        /// The key a type of kind `kindNumber` named `name` is searched by.
        public init(kindNumber: Int, name: String) {
            self.init(kindClass: kindNumber == 19 ? 6 : kindNumber, essentialName: KernelBTF.essentialName(name))
        }
    }

    /// Ids of this BTF's own types matching each key, in id order (keys without
    /// any are left out): from the table `init` built for the keys it was given,
    /// and one walk over the records for the others.
    public func candidates(for keys: Set<CandidateKey>) throws(ObjectReadError) -> [CandidateKey: [UInt32]] {
        var found: [CandidateKey: [UInt32]] = [:]
        var unindexed: Set<CandidateKey> = []
        for key in keys {
            if let ids = indexed[key] {
                if !ids.isEmpty { found[key] = ids }
            } else {
                unindexed.insert(key)
            }
        }
        guard !unindexed.isEmpty else { return found }
        let query = NameQuery(unindexed)
        let layer = own
        let walked = try withBytes { (ownBytes: Span<UInt8>, baseBytes: Span<UInt8>) throws(ObjectReadError) -> Walk in
            try Self.walk(layer.sections, from: layer.sections.typeStart, until: layer.sections.typeEnd, firstIndex: 0,
                          firstTypeID: layer.firstTypeID, context: layer.context, bytes: ownBytes,
                          baseStrings: base?.sections, baseBytes: baseBytes, query: query)
        }
        for (index, ids) in walked.found.enumerated() where !ids.isEmpty { found[query.keys[index]] = ids }
        return found
    }

    /// Ids of this BTF's own types named exactly `name` with kind `kindNumber`
    /// (`BTF_KIND_*`), e.g. the typedef `btf_trace_tcp_retransmit_skb` (kind 8)
    /// whose id a `tp_btf/` program passes as `attach_btf_id`.
    public func typeIDs(named name: String, kindNumber: Int) throws(ObjectReadError) -> [UInt32] {
        let key = CandidateKey(kindNumber: kindNumber, name: name)
        var ids: [UInt32] = []
        for id in try candidates(for: [key])[key] ?? [] {
            if let type = try type(id), type.name == name, type.kind.number == kindNumber { ids.append(id) }
        }
        return ids
    }

    /// libbpf's `bpf_core_essential_name_len`: the length before the last
    /// `X___Y` flavor separator (X and Y not underscores), else the whole name
    /// (`bytes[range]`, read in place: the walk tests names it has not copied).
    static func essentialLength(_ bytes: Span<UInt8>, _ range: Range<Int>) -> Int {
        let underscore = UInt8(ascii: "_")
        var index = range.count - 5
        while index >= 0 {
            let at = range.lowerBound + index
            if bytes[at] != underscore, bytes[at + 1] == underscore, bytes[at + 2] == underscore,
               bytes[at + 3] == underscore, bytes[at + 4] != underscore {
                return index + 1
            }
            index -= 1
        }
        return range.count
    }

    static func essentialName(_ name: String) -> String {
        let bytes = Array(name.utf8)
        return String(decoding: bytes[0 ..< essentialLength(bytes.span, bytes.indices)], as: UTF8.self)
    }

    /// The names a walk looks for. Most records fail the first two tests: is
    /// their kind wanted at all, and is any key of their kind named with their
    /// name's first byte? The rest are looked up by their first two bytes (a
    /// bucket of a few keys) and compared in full only with those.
    struct NameQuery {
        let keys: [CandidateKey]
        /// Every key's essential name, back to back: key `k`'s is
        /// `nameBytes[nameStarts[k] ..< nameStarts[k + 1]]` (one flat array, nothing nested to retain in the walk).
        let nameBytes: [UInt8]
        let nameStarts: [Int]
        /// Each key's kind class, as the walk computes a record's.
        let keyKinds: [UInt32]
        /// Bit `k` set: some key has kind class `k`.
        let kindMask: UInt32
        /// For each first byte, the kind classes wanted with a name starting with it.
        let kindsByFirstByte: [UInt32]
        /// Bucket `i` holds the keys `bucketKeys[bucketStarts[i] ..< bucketStarts[i + 1]]`:
        /// those whose kind and first two bytes give `i` (`bucket(kind:first:second:)`), and a few others
        /// that share it by chance (compared and rejected like any other name).
        let bucketStarts: [Int32]
        let bucketKeys: [Int32]

        static let bucketCount = 1 << 13

        /// A key's name must equal a matching record's up to the key's length, so both give the same
        /// bucket. A one-byte key `a` is put in every `a` bucket: besides `a` and `a___v2`, it is
        /// compared with any name starting with `a`, whose end is then looked for (an unterminated
        /// one is an error, as for longer keys).
        @inline(__always)
        static func bucket(kind: UInt32, first: UInt8, second: UInt8) -> Int {
            ((Int(first) << 5 | Int(kind & 0x1f)) ^ Int(second) << 3) & (bucketCount - 1)
        }

        init(_ keys: Set<CandidateKey>) {
            self.keys = Array(keys)
            var nameBytes: [UInt8] = []
            var nameStarts = [0]
            var keyKinds: [UInt32] = []
            var kindMask: UInt32 = 0
            var kindsByFirstByte = [UInt32](repeating: 0, count: 256)
            var entries: [(bucket: Int, key: Int32)] = []
            for (index, key) in self.keys.enumerated() {
                let name = Array(key.essentialName.utf8)
                nameBytes += name
                nameStarts.append(nameBytes.count)
                keyKinds.append(UInt32(truncatingIfNeeded: key.kindClass))
                // Anonymous types have no name to look up, and kind classes are 5-bit numbers.
                guard let first = name.first, (0..<32).contains(key.kindClass) else { continue }
                let kind = UInt32(key.kindClass)
                kindMask |= 1 << kind
                kindsByFirstByte[Int(first)] |= 1 << kind
                let seconds: [UInt8] = name.count > 1 ? [name[1]] : Array(0 ... 255)
                for second in seconds { entries.append((Self.bucket(kind: kind, first: first, second: second), Int32(index))) }
            }
            // Counting sort into buckets; keys keep their order within one.
            var bucketStarts = [Int32](repeating: 0, count: Self.bucketCount + 1)
            for entry in entries { bucketStarts[entry.bucket + 1] += 1 }
            for bucket in 0 ..< Self.bucketCount { bucketStarts[bucket + 1] += bucketStarts[bucket] }
            var next = bucketStarts
            var bucketKeys = [Int32](repeating: 0, count: entries.count)
            for entry in entries {
                bucketKeys[Int(next[entry.bucket])] = entry.key
                next[entry.bucket] += 1
            }
            self.nameBytes = nameBytes
            self.nameStarts = nameStarts
            self.keyKinds = keyKinds
            self.kindMask = kindMask
            self.kindsByFirstByte = kindsByFirstByte
            self.bucketStarts = bucketStarts
            self.bucketKeys = bucketKeys
        }
    }

    // MARK: - The walk

    /// What one walk over a layer's records (or a run of them) learnt.
    struct Walk: Sendable {
        /// Where it stopped: the end of the type section, or the first record at or past its limit.
        var end = 0
        /// The index (from the layer's first record) of the record at `end`.
        var nextIndex = 0
        /// Offsets of the records it met whose index is a multiple of `checkpointInterval`.
        var checkpoints: [UInt32] = []
        /// Ids matching each of the query's keys, by key index.
        var found: [[UInt32]]
    }

    /// Reads the header, walks the records once, and keeps what the lazy reads need. With a
    /// `tail`, this walk stops at the tail's first record, and takes the rest from it if that is
    /// where it landed (`KernelBTF+Tail.swift`); else it walks on to the end itself.
    static func index(_ name: String, _ storage: any ByteStorage, firstTypeID: UInt32, stringBase: Int,
                      base: Layer?, keys: Set<CandidateKey>, tail: TailHandle? = nil) throws(ObjectReadError)
        -> (Layer, [CandidateKey: [UInt32]]) {
        let context = "BTF \(name)"
        let query = NameQuery(keys)
        // The base's bytes only hold names the walk may compare: it needs them open too.
        let baseStorage: any ByteStorage = base?.storage ?? [UInt8]()
        func walk(_ sections: Sections, from start: Int, until limit: Int, firstIndex: Int) throws(ObjectReadError) -> Walk {
            try storage.withSpan { (bytes: Span<UInt8>) throws(ObjectReadError) -> Walk in
                try baseStorage.withSpan { (baseBytes: Span<UInt8>) throws(ObjectReadError) -> Walk in
                    try Self.walk(sections, from: start, until: limit, firstIndex: firstIndex, firstTypeID: firstTypeID,
                                  context: context, bytes: bytes, baseStrings: base?.sections, baseBytes: baseBytes, query: query)
                }
            }
        }
        let sections = try storage.withSpan { (bytes: Span<UInt8>) throws(ObjectReadError) -> Sections in
            try Self.sections(of: bytes, context: context, stringBase: stringBase)
        }
        let limit = tail.map { min(max($0.start, sections.typeStart), sections.typeEnd) } ?? sections.typeEnd
        let head = try walk(sections, from: sections.typeStart, until: limit, firstIndex: 0)
        var indexed: [CandidateKey: [UInt32]] = [:]
        for (index, key) in query.keys.enumerated() { indexed[key] = head.found[index] }
        var checkpoints = Checkpoints(head: head.checkpoints)
        var typeCount = head.nextIndex
        if head.end < sections.typeEnd {
            if let tail, head.end == tail.start, let rest = tail.records(for: keys), rest.walk.end == sections.typeEnd {
                // Landed on the tail's first record: the tail's records are the layer's from here.
                guard let offset = UInt32(exactly: UInt64(firstTypeID) + UInt64(head.nextIndex)),
                      UInt64(offset) + UInt64(rest.walk.nextIndex) <= UInt64(UInt32.max) else {
                    throw recordError(sections.typeEnd, context: context, "too many types")
                }
                for (key, ids) in rest.found { indexed[key, default: []] += ids.map { offset + $0 } }
                checkpoints.tail = rest.walk.checkpoints
                checkpoints.tailFirstIndex = head.nextIndex
                typeCount = head.nextIndex + rest.walk.nextIndex
            } else {
                // The tail did not start on a record boundary, or found its records malformed: walk on
                // here (a malformed record then throws with its true id).
                let rest = try walk(sections, from: head.end, until: sections.typeEnd, firstIndex: head.nextIndex)
                for (index, key) in query.keys.enumerated() { indexed[key, default: []] += rest.found[index] }
                checkpoints.head += rest.checkpoints
                typeCount = rest.nextIndex
            }
        }
        let layer = Layer(name: name, context: context, storage: storage, sections: sections, firstTypeID: firstTypeID,
                          typeCount: typeCount, checkpoints: checkpoints)
        return (layer, indexed)
    }

    /// The header (`struct btf_header`): where the type and string sections lie.
    static func sections(of bytes: Span<UInt8>, context: String, stringBase: Int) throws(ObjectReadError) -> Sections {
        var header = ByteReader(bytes.copy(0 ..< min(bytes.count, 24)), context: context)
        let magic = try header.readU16()
        guard magic == BTFParser.magic else {
            throw header.error("bad magic 0x\(String(magic, radix: 16)), expected 0xeb9f", at: 0)
        }
        let version = try header.readU8()
        guard version == 1 else { throw header.error("BTF version \(version) is not supported (expected 1)", at: 2) }
        _ = try header.readU8()
        let headerLength = UInt64(try header.readU32())
        let typeOffset = UInt64(try header.readU32())
        let typeLength = UInt64(try header.readU32())
        let stringOffset = UInt64(try header.readU32())
        let stringLength = UInt64(try header.readU32())
        guard headerLength >= 24 else { throw header.error("header length \(headerLength) is shorter than 24", at: 4) }
        let count = UInt64(bytes.count)
        // Checkpoints are u32 offsets.
        guard count <= UInt64(UInt32.max) else { throw header.error("BTF of \(count) bytes is larger than 4 GiB", at: 0) }
        guard headerLength + typeOffset <= count, typeLength <= count - (headerLength + typeOffset),
              headerLength + stringOffset <= count, stringLength <= count - (headerLength + stringOffset) else {
            throw header.error("type or string section lies outside the \(bytes.count) bytes", at: 8)
        }
        let typeStart = Int(headerLength + typeOffset)
        return Sections(typeStart: typeStart, typeEnd: typeStart + Int(typeLength),
                        stringStart: Int(headerLength + stringOffset), stringLength: Int(stringLength), stringBase: stringBase)
    }

    /// Bytes of a record whose `info` word this is: 12 for `struct btf_type`, then what its
    /// kind adds; nil for an unknown kind.
    @inline(__always)
    static func recordLength(info: UInt32) -> Int? {
        let vlen = Int(info & 0xffff)
        switch (info >> 24) & 0x1f {
        case 1, 14, 17: return 16                    // INT encoding, VAR linkage, DECL_TAG component
        case 3: return 24                            // ARRAY
        case 4, 5, 15, 19: return 12 + 12 * vlen     // members, DATASEC vars, ENUM64 values
        case 6, 13: return 12 + 8 * vlen             // ENUM values, FUNC_PROTO params
        case 2, 7, 8, 9, 10, 11, 12, 16, 18: return 12
        default: return nil
        }
    }

    /// The `info` word and length of the record at `position` (the type section's start, a
    /// checkpoint, or past a checked record: never before the section), checked to lie within
    /// the type section. `id` is computed only for an error (the walk calls this for every record).
    @inline(__always)
    private static func recordHeader(at position: Int, in bytes: Span<UInt8>, sections: Sections, context: String,
                                     id: @autoclosure () -> UInt64) throws(ObjectReadError) -> (info: UInt32, length: Int) {
        guard sections.typeEnd &- position >= 12 else {
            throw recordError(position, context: context, "type \(id()): truncated type record")
        }
        let info = bytes.littleEndianU32(at: position &+ 4)
        guard let length = recordLength(info: info) else {
            throw recordError(position, context: context, "type \(id()): unknown BTF kind \((info >> 24) & 0x1f)")
        }
        guard length <= sections.typeEnd &- position else {
            throw recordError(position, context: context, "type \(id()) runs past the end of the type section")
        }
        return (info, length)
    }

    @inline(never)
    private static func recordError(_ position: Int, context: String, _ reason: String) -> ObjectReadError {
        ObjectReadError(section: context, offset: UInt64(max(0, position)), reason: reason)
    }

    /// One pass over a layer's records: counts them, keeps a checkpoint every
    /// `checkpointInterval` records, and notes the ids whose kind and name a key of `query` asks for.
    /// `baseStrings`/`baseBytes`: the base's string section, for split BTF's names below `stringBase`.
    ///
    /// This loop is most of CO-RE's start-up cost (~130,000 records), so it reads
    /// each header once and keeps to it (`recordHeader`: the record fits in the type
    /// section, its kind is known), an id is computed only for an error or a match,
    /// a name is read only for a wanted kind, and compared only if its first two
    /// bytes lead to a key.
    ///
    /// `from`: the offset of record `firstIndex` (a record boundary, or a guess at one for a tail);
    /// the walk stops at the first record at or past `until`. Ids are `firstTypeID + index`.
    static func walk(_ sections: Sections, from start: Int, until limit: Int, firstIndex: Int, firstTypeID: UInt32,
                     context: String, bytes: Span<UInt8>, baseStrings: Sections?, baseBytes: Span<UInt8>,
                     query: NameQuery) throws(ObjectReadError) -> Walk {
        var walk = Walk(found: Array(repeating: [], count: query.keys.count))
        let typeEnd = sections.typeEnd
        walk.checkpoints.reserveCapacity(max(0, limit - start) / (16 * checkpointInterval) + 1)
        let kindMask = query.kindMask
        let kindsByFirstByte = query.kindsByFirstByte.span, bucketStarts = query.bucketStarts.span
        let ownStringStart = sections.stringStart, ownStringBase = sections.stringBase
        let ownStringCount = UInt(sections.stringLength), ownStringEnd = sections.stringStart + sections.stringLength
        var position = start
        var count = firstIndex
        // Wrapping arithmetic below only where the operands are bounded: positions by typeEnd
        // (<= bytes.count < 4 GiB, `sections(of:)`), name offsets by UInt32.
        while position < limit {
            let (info, length) = try recordHeader(at: position, in: bytes, sections: sections, context: context,
                                                  id: UInt64(firstTypeID) + UInt64(count))
            if count & (checkpointInterval - 1) == 0 {  // the interval is a power of 2: no division per record
                walk.checkpoints.append(UInt32(truncatingIfNeeded: position))
            }
            var kind = (info >> 24) & 0x1f
            if kind == 19 { kind = 6 }  // ENUM64 is searched as ENUM
            if kindMask & (1 << kind) != 0 {
                let nameOffset = bytes.littleEndianU32(at: position)
                let relative = Int(nameOffset) &- ownStringBase
                if nameOffset == 0 {
                    // Anonymous: nothing to look up.
                } else if UInt(bitPattern: relative) < ownStringCount {
                    let start = ownStringStart &+ relative
                    let first = bytes[start]
                    if kindsByFirstByte[Int(first)] & (1 << kind) != 0 {
                        // A key of this kind starts with this byte: a name that ends with the table is unterminated.
                        guard start &+ 1 < ownStringEnd else { throw notTerminated(nameOffset, context) }
                        let bucket = NameQuery.bucket(kind: kind, first: first, second: bytes[start &+ 1])
                        if bucketStarts[bucket] != bucketStarts[bucket &+ 1] {
                            try noteMatches(query, bucket: bucket, kind: kind, strings: bytes, start: start,
                                            tableEnd: ownStringEnd, nameOffset: nameOffset, context: context,
                                            id: UInt64(firstTypeID) + UInt64(count), position: position, into: &walk.found)
                        }
                    }
                } else {
                    // In the base's strings (split BTF), or nowhere (an error): rare, so not inline.
                    try noteMatchesElsewhere(query, kind: kind, nameOffset: nameOffset, sections: sections,
                                             baseStrings: baseStrings, baseBytes: baseBytes, context: context,
                                             id: UInt64(firstTypeID) + UInt64(count), position: position, into: &walk.found)
                }
            }
            count &+= 1
            position &+= length
        }
        walk.end = position
        walk.nextIndex = count
        guard UInt64(firstTypeID) + UInt64(count) <= UInt64(UInt32.max) else {
            throw recordError(sections.typeEnd, context: context, "too many types")
        }
        return walk
    }

    /// The walk's name test for a name outside the layer's own strings: in the base's (split BTF), or an error.
    @inline(never)
    private static func noteMatchesElsewhere(_ query: NameQuery, kind: UInt32, nameOffset: UInt32, sections: Sections,
                                             baseStrings: Sections?, baseBytes: Span<UInt8>, context: String, id: UInt64,
                                             position: Int, into found: inout [[UInt32]]) throws(ObjectReadError) {
        // Only a base's strings lie outside a layer's own (or `stringPlace` throws).
        let place = try stringPlace(nameOffset, own: sections, base: baseStrings, context: context)
        let first = baseBytes[place.start]
        guard query.kindsByFirstByte[Int(first)] & (1 << kind) != 0 else { return }
        guard place.start + 1 < place.tableEnd else { throw notTerminated(nameOffset, context) }
        let bucket = NameQuery.bucket(kind: kind, first: first, second: baseBytes[place.start + 1])
        try noteMatches(query, bucket: bucket, kind: kind, strings: baseBytes, start: place.start, tableEnd: place.tableEnd,
                        nameOffset: nameOffset, context: context, id: id, position: position, into: &found)
    }

    /// Appends `id` to `found[k]` for each key `k` of `bucket` and kind class `kind` that the name at
    /// `start` (in `strings`, whose table ends at `tableEnd`) matches, exactly or but for a flavor.
    /// The bucket is the name's (`NameQuery.bucket`), so its first two bytes lie in the table.
    @inline(never)
    private static func noteMatches(_ query: NameQuery, bucket: Int, kind: UInt32, strings: Span<UInt8>, start: Int,
                                    tableEnd: Int, nameOffset: UInt32, context: String, id: UInt64, position: Int,
                                    into found: inout [[UInt32]]) throws(ObjectReadError) {
        let wanted = query.nameBytes.span
        for slot in Int(query.bucketStarts[bucket]) ..< Int(query.bucketStarts[bucket + 1]) {
            let key = Int(query.bucketKeys[slot])
            guard query.keyKinds[key] == kind else { continue }
            let wantedStart = query.nameStarts[key]
            let wantedCount = query.nameStarts[key + 1] - wantedStart
            // Names sharing the first two bytes mostly differ at the wanted length's last byte
            // (`bpf_*` functions for `bpf_iter_task`): tested first. Past the end of a shorter name it
            // reads the next string's bytes, in the table, and the full comparison rejects it.
            let last = start + wantedCount - 1
            if last < tableEnd && strings[last] != wanted[wantedStart + wantedCount - 1] { continue }
            // Compare up to the wanted length; a NUL in the name is a mismatch.
            var at = 0
            while at < wantedCount, start + at < tableEnd, strings[start + at] == wanted[wantedStart + at] { at += 1 }
            guard at == wantedCount else {
                if start + at >= tableEnd { throw notTerminated(nameOffset, context) }
                continue
            }
            guard start + at < tableEnd else { throw notTerminated(nameOffset, context) }
            if strings[start + at] != 0 {
                // Longer than the wanted name: a match if the rest is a flavor (`sock___v2` for `sock`).
                var end = start + at
                let limit = min(tableEnd, start + StringTable.maximumLength + 1)
                while end < limit && strings[end] != 0 { end += 1 }
                guard end < tableEnd else { throw notTerminated(nameOffset, context) }
                guard essentialLength(strings, start ..< end) == wantedCount else { continue }
            }
            guard let typeID = UInt32(exactly: id) else { throw recordError(position, context: context, "too many types") }
            found[key].append(typeID)
        }
    }

    private static func notTerminated(_ offset: UInt32, _ context: String) -> ObjectReadError {
        ObjectReadError(section: "\(context) strings", offset: UInt64(offset), reason: "string is not NUL-terminated")
    }

    /// Where string `offset` lies: below `own.stringBase` in the base's table, else in this layer's.
    private static func stringPlace(_ offset: UInt32, own: Sections, base: Sections?,
                                    context: @autoclosure () -> String) throws(ObjectReadError) -> (inBase: Bool, start: Int, tableEnd: Int) {
        let position = Int(offset)
        if let base, position < own.stringBase {
            guard position < base.stringLength else { throw outside(offset, context()) }
            return (true, base.stringStart + position, base.stringStart + base.stringLength)
        }
        guard position >= own.stringBase, position - own.stringBase < own.stringLength else { throw outside(offset, context()) }
        return (false, own.stringStart + position - own.stringBase, own.stringStart + own.stringLength)
    }

    private static func outside(_ offset: UInt32, _ context: String) -> ObjectReadError {
        ObjectReadError(section: "\(context) strings", offset: UInt64(offset),
                        reason: "string offset \(offset) is outside the string sections")
    }
}
