/// One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its
/// parameters, e.g. `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`.
public struct AuthChallenge: Hashable, Sendable {
    /// The scheme, lowercased (`bearer`, `basic`).
    public var scheme: String
    /// Parameters with lowercased names.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }
    /// `insufficient_scope` when a token was refused for lacking the `scope` named.
    public var error: String? { parameters["error"] }

    /// Whether hocker can answer it: `Basic`, or `Bearer` with a realm.
    public var isSupported: Bool {
        scheme == "basic" || (scheme == "bearer" && !(realm ?? "").isEmpty)
    }

    /// What tells two challenges apart when deciding whether a 401 asks
    /// for something new (another realm, service, scope or scheme) or
    /// refuses what was just sent.
    var identity: String {
        [scheme, realm ?? "", service ?? "", scope ?? ""].joined(separator: "|")
    }

    /// The first challenge hocker can answer among every `WWW-Authenticate`
    /// header of a response, in the order they were sent.
    public static func firstSupported(in headers: [String]) -> AuthChallenge? {
        for header in headers {
            if let challenge = parse(header).first(where: { $0.isSupported }) { return challenge }
        }
        return nil
    }

    /// Parses every challenge in one header value. Malformed parts are
    /// skipped rather than fatal: a registry's odd header must not crash us.
    /// Values may be quoted strings or bare (`service=gcr.io`,
    /// `realm=https://host/token`), which run to the next `,` or space.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = HeaderScanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        while !scanner.atEnd {
            scanner.skip(whitespaceAndCommas: true)
            guard let scheme = scanner.token(), !scheme.isEmpty else {
                scanner.advance()
                continue
            }
            var challenge = AuthChallenge(scheme: scheme)
            // Parameters follow until the next token that is not `name=`.
            while true {
                scanner.skip(whitespaceAndCommas: true)
                let mark = scanner.position
                guard let name = scanner.token(), !name.isEmpty else { break }
                scanner.skip(whitespaceAndCommas: false)
                guard scanner.consume(UInt8(ascii: "=")) else {
                    // token68 or the next challenge's scheme.
                    scanner.position = mark
                    if challenge.parameters.isEmpty, scanner.peekIsToken68(), let _ = scanner.token68() {
                        continue
                    }
                    break
                }
                scanner.skip(whitespaceAndCommas: false)
                let value = scanner.quotedString() ?? scanner.bareValue()
                challenge.parameters[name.lowercased()] = value
            }
            challenges.append(challenge)
        }
        return challenges
    }
}

/// A byte cursor over a header value.
private struct HeaderScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func advance() { position += 1 }

    mutating func skip(whitespaceAndCommas: Bool) {
        while position < bytes.count {
            let c = bytes[position]
            if c == 0x20 || c == 0x09 || (whitespaceAndCommas && c == UInt8(ascii: ",")) {
                position += 1
            } else {
                break
            }
        }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// An RFC 7230 token.
    mutating func token() -> String? {
        let start = position
        while position < bytes.count, Self.isTokenChar(bytes[position]) { position += 1 }
        guard position > start else { return nil }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// An unquoted parameter value: everything up to the next `,` or
    /// space. Looser than RFC 7235's token, as registries send URLs bare.
    mutating func bareValue() -> String {
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: ","), bytes[position] != 0x20, bytes[position] != 0x09 { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    func peekIsToken68() -> Bool {
        var index = position
        while index < bytes.count, Self.isToken68Char(bytes[index]) { index += 1 }
        while index < bytes.count, bytes[index] == UInt8(ascii: "=") { index += 1 }
        return index == bytes.count || bytes[index] == UInt8(ascii: ",") || bytes[index] == 0x20
    }

    mutating func token68() -> String? {
        let start = position
        while position < bytes.count, Self.isToken68Char(bytes[position]) { position += 1 }
        while position < bytes.count, bytes[position] == UInt8(ascii: "=") { position += 1 }
        return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
    }

    /// A quoted-string with backslash escapes; an unterminated one runs to the end.
    mutating func quotedString() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        var value: [UInt8] = []
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            if c == UInt8(ascii: "\\"), position < bytes.count {
                value.append(bytes[position])
                position += 1
            } else if c == UInt8(ascii: "\"") {
                break
            } else {
                value.append(c)
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    private static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    private static func isToken68Char(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "-._~+/".utf8.contains(c)
        }
    }
}
