/// A kernel's BTF (`/sys/kernel/btf/vmlinux`, or a module's split BTF under
/// `/sys/kernel/btf/<module>`), read lazily: CO-RE needs a handful of its
/// ~130,000 types, so decoding all of them (5.5 MB) would cost more than the
/// whole start-up budget.
///
/// `init` makes one pass over the record headers to learn where each type
/// starts (a record's length follows from its kind and vlen); `type(_:)`
/// decodes one record on demand; `candidates(for:)` scans names without
/// decoding records. The loader supplies the bytes: the reader opens no file.
///
/// Split BTF (modules): type ids continue after the base's last id, and
/// string offsets below the base's string section size refer to the base's
/// strings (`tools/lib/bpf/btf.c`, `btf_new` with a base).
public struct KernelBTF: Sendable {
    /// "vmlinux", or the module's name: shown in messages and resolutions.
    public let name: String
    /// This BTF's own records, and (for split BTF) its base's, base first.
    let layers: [Layer]

    struct Layer: Sendable {
        let name: String
        let bytes: [UInt8]
        /// Id of this layer's first record.
        let firstTypeID: UInt32
        /// Byte offset in `bytes` of each record, by id - firstTypeID.
        let recordOffsets: [UInt32]
        let stringStart: Int
        let stringLength: Int
        /// Where this layer's strings start in the shared offset space (0 for a base).
        let stringBase: Int
        let typeEnd: Int

        var typeCount: Int { recordOffsets.count }
    }

    /// vmlinux BTF: a base, ids from 1.
    public init(vmlinux bytes: [UInt8]) throws(ObjectReadError) {
        name = "vmlinux"
        layers = [try Self.layer(named: "vmlinux", bytes: bytes, firstTypeID: 1, stringBase: 0)]
    }

    /// A module's split BTF on top of `base` (vmlinux).
    public init(module name: String, bytes: [UInt8], base: KernelBTF) throws(ObjectReadError) {
        self.name = name
        guard let top = base.layers.last else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0, reason: "base BTF has no layers")
        }
        let nextID = UInt64(top.firstTypeID) + UInt64(top.typeCount)
        guard let firstID = UInt32(exactly: nextID) else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0, reason: "base BTF has too many types")
        }
        layers = base.layers + [try Self.layer(named: name, bytes: bytes, firstTypeID: firstID,
                                               stringBase: top.stringBase + top.stringLength)]
    }

    /// Ids of this BTF's own types (for a module, not its base's).
    public var ownTypeIDs: Range<UInt32> {
        guard let top = layers.last else { return 0..<0 }
        return top.firstTypeID ..< top.firstTypeID + UInt32(top.typeCount)
    }

    /// How many ids are valid, void included (libbpf's `btf__type_cnt`).
    public var typeCount: Int { Int(ownTypeIDs.upperBound) }

    /// Decodes type `id`; nil for 0 (`void`); throws for ids past the end or a malformed record.
    public func type(_ id: UInt32) throws(ObjectReadError) -> BTFType? {
        guard id != 0 else { return nil }
        guard let layer = layers.last(where: { $0.firstTypeID <= id }),
              Int(id - layer.firstTypeID) < layer.typeCount else {
            throw ObjectReadError(section: "BTF \(name)", offset: 0,
                                  reason: "type \(id) does not exist (there are \(typeCount - 1))")
        }
        var reader = ByteReader(layer.bytes, context: "BTF \(layer.name)")
        let offset = layer.recordOffsets[Int(id - layer.firstTypeID)]
        try reader.seek(to: UInt64(offset))
        let type = try BTFParser.readType(&reader, id: id) { (nameOffset: UInt32) throws(ObjectReadError) -> String in
            try string(at: nameOffset)
        }
        guard reader.position <= layer.typeEnd else {
            throw reader.error("type \(id) (\(type.name)) runs past the end of the type section", at: Int(offset))
        }
        return type
    }

    /// The string at `offset` of the shared (base + split) string space.
    func string(at offset: UInt32) throws(ObjectReadError) -> String {
        let (layer, start) = try stringLocation(offset)
        let tableEnd = layer.stringStart + layer.stringLength
        let limit = min(tableEnd, start + StringTable.maximumLength + 1)
        var end = start
        while end < limit && layer.bytes[end] != 0 { end += 1 }
        guard end < tableEnd, end - start <= StringTable.maximumLength else {
            throw ObjectReadError(section: "BTF \(layer.name) strings", offset: UInt64(offset),
                                  reason: "string is not NUL-terminated or longer than \(StringTable.maximumLength) bytes")
        }
        return String(decoding: layer.bytes[start..<end], as: UTF8.self)
    }

    /// The layer holding string `offset`, and the string's byte position in that layer.
    private func stringLocation(_ offset: UInt32) throws(ObjectReadError) -> (Layer, Int) {
        let (index, position) = try stringPosition(offset)
        return (layers[index], position)
    }

    /// As `stringLocation`, with the layer's index (no copy of the layer).
    private func stringPosition(_ offset: UInt32) throws(ObjectReadError) -> (layer: Int, position: Int) {
        let position = Int(offset)
        var index = layers.count - 1
        while index >= 0 {
            let layer = layers[index]
            if position >= layer.stringBase {
                guard position - layer.stringBase < layer.stringLength else { break }
                return (index, layer.stringStart + position - layer.stringBase)
            }
            index -= 1
        }
        throw ObjectReadError(section: "BTF \(name) strings", offset: UInt64(offset),
                              reason: "string offset \(offset) is outside the string sections")
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
    }

    /// Ids of this BTF's own types matching each key, in id order: one pass
    /// over the record headers, names compared byte-wise in place.
    public func candidates(for keys: Set<CandidateKey>) throws(ObjectReadError) -> [CandidateKey: [UInt32]] {
        guard !keys.isEmpty, let layer = layers.last else { return [:] }
        var wanted: [UInt64: [CandidateKey]] = [:]
        var kindMask: UInt32 = 0
        for key in keys {
            wanted[Self.hash(Array(key.essentialName.utf8)[...]), default: []].append(key)
            if (0..<32).contains(key.kindClass) { kindMask |= 1 << UInt32(key.kindClass) }
        }
        // This loop is most of CO-RE's start-up cost (~127,000 records here):
        // a bit test rejects most records, and a name is hashed in the same
        // pass that finds its end.
        var found: [CandidateKey: [UInt32]] = [:]
        let bytes = layer.bytes
        let offsets = layer.recordOffsets
        for index in offsets.indices {
            let start = Int(offsets[index])
            var kind = (Self.u32(bytes, start + 4) >> 24) & 0x1f
            if kind == 19 { kind = 6 }
            guard kindMask & (1 << kind) != 0 else { continue }
            let nameOffset = Self.u32(bytes, start)
            guard nameOffset != 0 else { continue }
            let (layerIndex, nameStart) = try stringPosition(nameOffset)
            let nameBytes = layerIndex == layers.count - 1 ? bytes : layers[layerIndex].bytes
            let tableEnd = layers[layerIndex].stringStart + layers[layerIndex].stringLength
            var end = nameStart
            var hash: UInt64 = Self.hashSeed
            var underscores = 0
            var flavored = false
            while end < tableEnd {
                let byte = nameBytes[end]
                if byte == 0 { break }
                hash = (hash ^ UInt64(byte)) &* Self.hashPrime
                underscores = byte == 0x5f ? underscores + 1 : 0
                if underscores == 3 { flavored = true }
                end += 1
            }
            guard end < tableEnd else {
                throw ObjectReadError(section: "BTF \(layers[layerIndex].name) strings", offset: UInt64(nameOffset),
                                      reason: "string is not NUL-terminated")
            }
            var essentialEnd = end
            if flavored {
                essentialEnd = nameStart + Self.essentialLength(nameBytes[nameStart..<end])
                hash = Self.hash(nameBytes[nameStart..<essentialEnd])
            }
            guard let matches = wanted[hash] else { continue }
            for key in matches where key.kindClass == Int(kind) && key.essentialName.utf8.elementsEqual(nameBytes[nameStart..<essentialEnd]) {
                found[key, default: []].append(layer.firstTypeID + UInt32(index))
            }
        }
        return found
    }

    /// Ids of this BTF's own types named exactly `name` with kind `kindNumber`
    /// (`BTF_KIND_*`), e.g. the typedef `btf_trace_tcp_retransmit_skb` (kind 8)
    /// whose id a `tp_btf/` program passes as `attach_btf_id`.
    public func typeIDs(named name: String, kindNumber: Int) throws(ObjectReadError) -> [UInt32] {
        let key = CandidateKey(kindClass: kindNumber == 19 ? 6 : kindNumber, essentialName: Self.essentialName(name))
        var ids: [UInt32] = []
        for id in try candidates(for: [key])[key] ?? [] where try type(id)?.name == name {
            if let type = try type(id), type.kind.number == kindNumber { ids.append(id) }
        }
        return ids
    }

    /// libbpf's `bpf_core_essential_name_len`: the length before the last
    /// `X___Y` flavor separator (X and Y not underscores), else the whole name.
    static func essentialLength(_ name: ArraySlice<UInt8>) -> Int {
        let underscore = UInt8(ascii: "_")
        let base = name.startIndex
        var index = name.count - 5
        while index >= 0 {
            let at = base + index
            if name[at] != underscore, name[at + 1] == underscore, name[at + 2] == underscore,
               name[at + 3] == underscore, name[at + 4] != underscore {
                return index + 1
            }
            index -= 1
        }
        return name.count
    }

    static func essentialName(_ name: String) -> String {
        let bytes = Array(name.utf8)
        return String(decoding: bytes[0 ..< essentialLength(bytes[...])], as: UTF8.self)
    }

    /// FNV-1a: cheap, allocation-free, good enough to pick the few names compared in full.
    private static let hashSeed: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let hashPrime: UInt64 = 0x100_0000_01b3
    private static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var value = hashSeed
        for byte in bytes { value = (value ^ UInt64(byte)) &* hashPrime }
        return value
    }

    /// Little-endian u32 at `offset`; callers have checked the record lies within `bytes`.
    private static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    // MARK: - The header pass

    private static func layer(named name: String, bytes: [UInt8], firstTypeID: UInt32,
                              stringBase: Int) throws(ObjectReadError) -> Layer {
        let context = "BTF \(name)"
        var header = ByteReader(bytes, context: context)
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
        guard headerLength + typeOffset <= count, typeLength <= count - (headerLength + typeOffset),
              headerLength + stringOffset <= count, stringLength <= count - (headerLength + stringOffset) else {
            throw header.error("type or string section lies outside the \(bytes.count) bytes", at: 8)
        }
        let typeStart = Int(headerLength + typeOffset)
        let typeEnd = typeStart + Int(typeLength)

        var offsets: [UInt32] = []
        offsets.reserveCapacity(Int(typeLength / 16))
        var position = typeStart
        while position < typeEnd {
            guard typeEnd - position >= 12 else {
                throw ObjectReadError(section: context, offset: UInt64(position), reason: "truncated type record")
            }
            let info = u32(bytes, position + 4)
            let vlen = Int(info & 0xffff)
            let extra: Int
            switch (info >> 24) & 0x1f {
            case 1, 14, 17: extra = 4                    // INT encoding, VAR linkage, DECL_TAG component
            case 3: extra = 12                           // ARRAY
            case 4, 5, 15, 19: extra = 12 * vlen         // members, DATASEC vars, ENUM64 values
            case 6, 13: extra = 8 * vlen                 // ENUM values, FUNC_PROTO params
            case 2, 7, 8, 9, 10, 11, 12, 16, 18: extra = 0
            case let kind:
                throw ObjectReadError(section: context, offset: UInt64(position),
                                      reason: "type \(UInt64(firstTypeID) + UInt64(offsets.count)): unknown BTF kind \(kind)")
            }
            guard extra <= typeEnd - position - 12 else {
                throw ObjectReadError(section: context, offset: UInt64(position),
                                      reason: "type \(UInt64(firstTypeID) + UInt64(offsets.count)) runs past the end of the type section")
            }
            guard UInt64(firstTypeID) + UInt64(offsets.count) < UInt64(UInt32.max), let offset = UInt32(exactly: position) else {
                throw ObjectReadError(section: context, offset: UInt64(position), reason: "too many types")
            }
            offsets.append(offset)
            position += 12 + extra
        }
        return Layer(name: name, bytes: bytes, firstTypeID: firstTypeID, recordOffsets: offsets,
                     stringStart: Int(headerLength + stringOffset), stringLength: Int(stringLength),
                     stringBase: stringBase, typeEnd: typeEnd)
    }
}
