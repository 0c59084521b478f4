/// The lookups a listing makes once per instruction, cached, so that a
/// program with thousands of relocations or line records costs time linear
/// in its size, not in (records x maps) or (records x string length).
extension ProgramListing {
    /// Variable names by (map name, offset), as `ObjectSpec.map(named:)` and
    /// the first variable at that offset would give them. Built on first use.
    struct VariableNames {
        private let maps: [MapSpec]
        private var mapIndexByName: [String: Int]?
        private var namesByOffset: [Int: [UInt32: String]] = [:]

        init(maps: [MapSpec]) { self.maps = maps }

        mutating func name(inMap mapName: String, at offset: UInt32) -> String? {
            if mapIndexByName == nil {
                var index: [String: Int] = [:]
                for (position, map) in maps.enumerated() where index[map.name] == nil { index[map.name] = position }
                mapIndexByName = index
            }
            guard let position = mapIndexByName?[mapName] else { return nil }
            if namesByOffset[position] == nil {
                var names: [UInt32: String] = [:]
                for variable in maps[position].variables where names[variable.offset] == nil {
                    names[variable.offset] = variable.name
                }
                namesByOffset[position] = names
            }
            return namesByOffset[position]?[offset]
        }
    }

    /// Source file base names and line texts from the BTF string table.
    ///
    /// Each string is read at most `maximumLength` bytes far (longer ones end
    /// in `…`) and decoded once per offset: line records pointing at many
    /// offsets inside one huge string would otherwise cost records x length.
    struct SourceText {
        /// Longer than any real path (PATH_MAX) or source line.
        static let maximumLength = 4096

        private let strings: [UInt8]
        private var fileNames: [UInt32: String] = [:]
        private var lineTexts: [UInt32: String] = [:]

        init(strings: [UInt8]) { self.strings = strings }

        /// `retrans.c` for `/src/bpf/retrans.c`; `?` when the offset is outside the table.
        mutating func fileBaseName(at offset: UInt32) -> String {
            if let known = fileNames[offset] { return known }
            let name: String
            if let path = string(at: offset) {
                name = path.split(separator: "/").last.map(String.init) ?? path
            } else {
                name = "?"
            }
            fileNames[offset] = name
            return name
        }

        /// The source line without surrounding blanks; empty when the offset is outside the table.
        mutating func lineText(at offset: UInt32) -> String {
            if let known = lineTexts[offset] { return known }
            let text = string(at: offset)?.trimmingSpaces ?? ""
            lineTexts[offset] = text
            return text
        }

        private func string(at offset: UInt32) -> String? {
            guard let start = Int(exactly: offset), start < strings.count else { return nil }
            let limit = min(strings.count, start + Self.maximumLength)
            var end = start
            while end < limit && strings[end] != 0 { end += 1 }
            let text = String(decoding: strings[start..<end], as: UTF8.self)
            let truncated = end < strings.count && strings[end] != 0
            return truncated ? text + "…" : text
        }
    }
}
