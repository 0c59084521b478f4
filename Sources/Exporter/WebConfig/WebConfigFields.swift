/// Strict reading of one mapping of the web configuration: unknown or repeated keys are errors
/// (exporter-toolkit reads the file with yaml.UnmarshalStrict), and so is a value of the
/// wrong kind, each with its line.
struct WebConfigFields {
    let node: YAMLNode
    let path: String
    let section: String
    private let pairs: [(key: YAMLNode, value: YAMLNode)]

    init(_ node: YAMLNode, path: String, section: String) throws(WebConfigurationError) {
        guard case .mapping(let pairs) = node.value else {
            throw WebConfigurationError(path: path, line: node.line, message: "\(section) must be a mapping, not \(node.kindName)")
        }
        self.node = node
        self.path = path
        self.section = section
        self.pairs = pairs
    }

    /// The entries in file order; `allowed` nil accepts any key (user names, header names).
    func entries(allowed: Set<String>?) throws(WebConfigurationError) -> [(String, YAMLNode)] {
        var seen = Set<String>()
        var result: [(String, YAMLNode)] = []
        for (keyNode, value) in pairs {
            guard case .scalar(let key, _) = keyNode.value, !keyNode.isNull else {
                throw error(keyNode.line, "keys in \(section) must be plain names, not \(keyNode.kindName)")
            }
            if let allowed, !allowed.contains(key) {
                throw error(keyNode.line,
                            "unknown field '\(key)' in \(section); known: \(allowed.sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else {
                throw error(keyNode.line, "'\(key)' appears twice in \(section)")
            }
            result.append((key, value))
        }
        return result
    }

    func string(_ node: YAMLNode, name: String) throws(WebConfigurationError) -> String {
        guard case .scalar(let text, _) = node.value else {
            throw error(node.line, "\(name) must be a string, not \(node.kindName)")
        }
        return node.isNull ? "" : text
    }

    func boolean(_ node: YAMLNode, name: String) throws(WebConfigurationError) -> Bool {
        let text = try string(node, name: name)
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error(node.line, "\(name) must be true or false, not '\(text)'")
        }
    }

    func integer(_ node: YAMLNode, name: String) throws(WebConfigurationError) -> Int {
        let text = try string(node, name: name)
        guard let value = Int(text), value >= 0 else {
            throw error(node.line, "\(name) must be a whole number of 0 or more, not '\(text)'")
        }
        return value
    }

    func strings(_ node: YAMLNode, name: String) throws(WebConfigurationError) -> [String] {
        if node.isNull { return [] }
        guard case .sequence(let items) = node.value else {
            throw error(node.line, "\(name) must be a list, not \(node.kindName)")
        }
        var result: [String] = []
        for item in items { result.append(try string(item, name: "an item of \(name)")) }
        return result
    }

    func error(_ line: Int, _ message: String) -> WebConfigurationError {
        WebConfigurationError(path: path, line: line, message: message)
    }
}
