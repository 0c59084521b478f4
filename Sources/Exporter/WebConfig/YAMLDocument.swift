import CWebSupport

/// A YAML document as a tree of scalars, mappings and sequences, each with its line (1-based),
/// read by libyaml: quoting, flow and block styles, comments and anchors all behave as YAML
/// says, and errors carry a line and column.
///
/// Only what the web configuration needs: scalars stay text (the reader of each field decides
/// what a `true` or a `10` means), and a mapping keeps its keys in file order.
struct YAMLNode: Sendable {
    enum Value: Sendable {
        /// `plain`: written without quotes (so `~`, `null` and an empty value mean null).
        case scalar(String, plain: Bool)
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])
    }

    let value: Value
    let line: Int

    var isNull: Bool {
        if case .scalar(let text, plain: true) = value { return text.isEmpty || text == "~" || text == "null"
            || text == "Null" || text == "NULL" }
        return false
    }

    var kindName: String {
        switch value {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

struct YAMLSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    let line: Int
    let column: Int
    let message: String

    var description: String { "line \(line), column \(column): \(message)" }
}

enum YAMLDocument {
    /// Deeper nesting than any web configuration has: also stops an alias that refers to its own
    /// ancestor from recursing forever.
    static let maximumDepth = 16

    /// The root node, or nil for an empty document (no content, or comments only).
    static func parse(_ bytes: [UInt8]) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(line: 0, column: 0, message: "libyaml could not start (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }
        var document = yaml_document_t()
        let loaded = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else {
                return 2  // empty input: an empty document
            }
            yaml_parser_set_input_string(&parser, base, buffer.count)
            return yaml_parser_load(&parser, &document)
        }
        if loaded == 2 { return nil }
        guard loaded == 1 else {
            let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
            let context = parser.context.map { String(cString: $0) + ": " } ?? ""
            throw YAMLSyntaxError(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1,
                                  message: context + problem)
        }
        defer { yaml_document_delete(&document) }
        guard let root = yaml_document_get_root_node(&document) else { return nil }
        var extraDocument = yaml_document_t()
        // A second document (`---` after the first) is not part of a configuration file.
        if yaml_parser_load(&parser, &extraDocument) == 1 {
            defer { yaml_document_delete(&extraDocument) }
            if let second = yaml_document_get_root_node(&extraDocument) {
                throw YAMLSyntaxError(line: Int(second.pointee.start_mark.line) + 1, column: 1,
                                      message: "a second YAML document; the file must hold one")
            }
        }
        return try convert(root, in: &document, depth: 0)
    }

    private static func convert(
        _ node: UnsafeMutablePointer<yaml_node_t>, in document: inout yaml_document_t, depth: Int
    ) throws(YAMLSyntaxError) -> YAMLNode {
        let line = Int(node.pointee.start_mark.line) + 1
        guard depth < maximumDepth else {
            throw YAMLSyntaxError(line: line, column: Int(node.pointee.start_mark.column) + 1,
                                  message: "nested more than \(maximumDepth) levels deep")
        }
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let scalar = node.pointee.data.scalar
            let text = scalar.value.map {
                String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self)
            } ?? ""
            return YAMLNode(value: .scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE), line: line)
        case YAML_MAPPING_NODE:
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            var pair = node.pointee.data.mapping.pairs.start
            let top = node.pointee.data.mapping.pairs.top
            while let current = pair, current != top {
                guard let key = yaml_document_get_node(&document, current.pointee.key),
                      let value = yaml_document_get_node(&document, current.pointee.value)
                else {
                    throw YAMLSyntaxError(line: line, column: 1, message: "a mapping entry without key or value")
                }
                pairs.append((try convert(key, in: &document, depth: depth + 1),
                              try convert(value, in: &document, depth: depth + 1)))
                pair = current + 1
            }
            return YAMLNode(value: .mapping(pairs), line: line)
        case YAML_SEQUENCE_NODE:
            var items: [YAMLNode] = []
            var item = node.pointee.data.sequence.items.start
            let top = node.pointee.data.sequence.items.top
            while let current = item, current != top {
                guard let element = yaml_document_get_node(&document, current.pointee) else {
                    throw YAMLSyntaxError(line: line, column: 1, message: "a list item that is missing")
                }
                items.append(try convert(element, in: &document, depth: depth + 1))
                item = current + 1
            }
            return YAMLNode(value: .sequence(items), line: line)
        default:
            throw YAMLSyntaxError(line: line, column: 1, message: "an empty node")
        }
    }
}
