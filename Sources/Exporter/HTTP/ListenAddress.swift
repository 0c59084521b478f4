/// `--web.listen-address`: `host:port`, `[ipv6]:port`, or `:port` for every address.
struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// nil: all addresses (IPv6 and IPv4 through one dual-stack socket, or IPv4 alone).
    var host: String?
    var port: Int
    /// As the user wrote it, for messages.
    let text: String

    static let `default` = ListenAddress(host: nil, port: 2112, text: ":2112")

    private init(host: String?, port: Int, text: String) {
        self.host = host
        self.port = port
        self.text = text
    }

    init(parsing text: String) throws(ListenAddressError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .unclosedBracket(text) }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .missingPort(text) }
            portPart = rest.dropFirst()
            guard !hostPart.isEmpty else { throw .emptyHost(text) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .missingPort(text) }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else { throw .unbracketedIPv6(text) }
        }
        guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portPart), port <= 65_535
        else {
            throw .badPort(text)
        }
        self.init(host: hostPart.isEmpty ? nil : String(hostPart), port: port, text: text)
    }

    var description: String { text }
}

enum ListenAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingPort(String)
    case badPort(String)
    case unclosedBracket(String)
    case emptyHost(String)
    case unbracketedIPv6(String)

    var description: String {
        switch self {
        case .missingPort(let text):
            "--web.listen-address '\(text)': expected host:port, [ipv6]:port or :port"
        case .badPort(let text):
            "--web.listen-address '\(text)': the port must be a number from 0 to 65535"
        case .unclosedBracket(let text):
            "--web.listen-address '\(text)': missing ']' after the IPv6 address"
        case .emptyHost(let text):
            "--web.listen-address '\(text)': empty address in brackets; use :port for every address"
        case .unbracketedIPv6(let text):
            "--web.listen-address '\(text)': put an IPv6 address in brackets, e.g. [::1]:2112"
        }
    }
}

