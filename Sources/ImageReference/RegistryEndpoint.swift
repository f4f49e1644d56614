/// Where a registry's Distribution API v2 is served: scheme, host and an
/// optional path prefix before `/v2/`.
public struct RegistryEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// `https` or `http`.
    public var scheme: String
    /// Host with port when it has one, as it goes in URLs (`registry-1.docker.io`, `127.0.0.1:5000`).
    public var host: String
    /// A path before `/v2/`, empty for almost every registry.
    public var pathPrefix: String
    /// The registry's name in image references (`docker.io` for Docker Hub,
    /// else the host) — what credentials are looked up by.
    public var name: String
    /// Whether plain http may replace https when the host turns out to
    /// speak no TLS: set for a loopback or `--insecure` host named without a
    /// scheme, which is tried over https first (as docker and
    /// containers/image do); never for an explicit `https://` or `http://`.
    public var fallsBackToPlainHTTP: Bool

    public init(scheme: String, host: String, pathPrefix: String = "", name: String? = nil, fallsBackToPlainHTTP: Bool = false) {
        self.scheme = scheme
        self.host = host
        self.pathPrefix = pathPrefix
        self.name = name ?? ImageReference.canonicalRegistry(host)
        self.fallsBackToPlainHTTP = fallsBackToPlainHTTP && scheme == "https"
    }

    /// Docker Hub's API endpoint, hocker's default.
    public static let dockerHub = RegistryEndpoint(scheme: "https", host: "registry-1.docker.io", name: ImageReference.dockerHub)

    /// Parses `--registry`: `https://registry-1.docker.io/v2/`, the same
    /// without `/v2/`, or a bare `host[:port]`. An explicit scheme is used as
    /// given; a bare host means https, and when `insecure` is set or the host
    /// is a loopback address, https first and then plain http if the host
    /// speaks no TLS (``fallsBackToPlainHTTP``).
    public init(parsing text: String, insecure: Bool = false) throws(ReferenceError) {
        var rest = Substring(text.trimmingWhitespace())
        var scheme: String?
        if let range = rest.firstRange(of: "://") {
            let given = rest[..<range.lowerBound].lowercased()
            guard given == "http" || given == "https" else {
                throw .invalidRegistry(text, reason: "only http:// and https:// are supported")
            }
            scheme = given
            rest = rest[range.upperBound...]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = String(rest[..<slash])
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix("/v2") { path.removeLast(3) }
        guard !host.isEmpty else { throw .invalidRegistry(text, reason: "it names no host") }
        guard !host.contains("@") else {
            throw .invalidRegistry("…", reason: "credentials do not belong in the registry URI; use --username/--password or --credentials-file")
        }
        if let problem = ImageReference.hostProblem(host) {
            throw .invalidRegistry(text, reason: "'\(host)' is not a valid host[:port]: \(problem)")
        }
        if let portText = Self.port(of: host) {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw .invalidRegistry(text, reason: "the port '\(portText)' is not a number from 1 to 65535")
            }
        }
        let fallback = scheme == nil && (insecure || Self.isLoopback(host: host))
        let canonical = ImageReference.canonicalRegistry(host)
        if canonical == ImageReference.dockerHub {
            self = .dockerHub
            self.scheme = scheme ?? "https"
            self.pathPrefix = path
            self.fallsBackToPlainHTTP = fallback && self.scheme == "https"
        } else {
            self.init(scheme: scheme ?? "https", host: host, pathPrefix: path, fallsBackToPlainHTTP: fallback)
        }
    }

    /// The endpoint for a registry named in an image reference: https, and
    /// for a loopback host or with `insecure`, plain http when the host
    /// speaks no TLS.
    public init(registryName: String, insecure: Bool = false) {
        if registryName == ImageReference.dockerHub {
            self = .dockerHub
            self.fallsBackToPlainHTTP = insecure
        } else {
            self.init(scheme: "https", host: registryName, fallsBackToPlainHTTP: insecure || Self.isLoopback(host: registryName))
        }
    }

    /// The same endpoint over plain http, with no further fallback: what a
    /// host that answered https with plain http is asked next.
    public var plainHTTP: RegistryEndpoint {
        var endpoint = self
        endpoint.scheme = "http"
        endpoint.fallsBackToPlainHTTP = false
        return endpoint
    }

    /// `scheme://host[/prefix]/v2/`, the form hocker printed.
    public var v2URL: String { "\(scheme)://\(host)\(pathPrefix)/v2/" }

    public var description: String { host }

    /// The host without its port.
    public var hostname: String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<close])
        }
        if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            return String(host[..<colon])
        }
        return host
    }

    /// Whether the host is `localhost`, an address in 127.0.0.0/8, or `::1`.
    public var isLoopback: Bool { Self.isLoopback(host: host) }

    /// Whether `host` (a name or address, with or without a port) is loopback:
    /// the name `localhost`, an IPv4 literal in 127.0.0.0/8, or `::1`. A name
    /// is never judged by its look (`127.0.0.1.example.net` is any host's), so
    /// only these get credentials over plain http without `--insecure`.
    public static func isLoopback(host: String) -> Bool {
        let name = RegistryEndpoint(scheme: "http", host: host, name: host).hostname.lowercased()
        if name == "localhost" || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        guard let octets = ipv4Octets(name) else { return false }
        return octets[0] == 127
    }

    /// The four octets of a dotted-decimal IPv4 literal, nil for anything else.
    static func ipv4Octets(_ text: String) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [Int] = []
        for part in parts {
            guard (1...3).contains(part.count), part.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(part), value <= 255
            else { return nil }
            octets.append(value)
        }
        return octets
    }

    private static func port(of host: String) -> Substring? {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            return after.hasPrefix(":") ? after.dropFirst() : nil
        }
        guard let colon = host.firstIndex(of: ":") else { return nil }
        return host[host.index(after: colon)...]
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, newlines).
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
