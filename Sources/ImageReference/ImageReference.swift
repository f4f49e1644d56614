/// A reference to an image in a registry: `registry/repository[:tag][@digest]`.
///
/// Parsing follows the grammar docker uses (distribution's `reference`
/// package, `ParseNormalizedNamed`): the first of several path components
/// is a registry host when it contains a `.` or a `:`, is `localhost`, or
/// has an uppercase letter (repository paths are lowercase, host names are
/// not case-sensitive, so `Docker/docker` names the host `Docker`);
/// otherwise the image is on Docker Hub, where a single-component name gets
/// the `library/` namespace. A host is dot-separated labels of letters,
/// digits and inner `-`, or an IPv6 address of hex digits and `:` in
/// brackets, with an optional `:PORT`; a bare 64-digit hex string is an
/// image ID, not a name, and is refused.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// Docker Hub's canonical name in references.
    public static let dockerHub = "docker.io"

    /// The registry host, with its port when it has one (`docker.io`, `ghcr.io`, `localhost:5000`).
    public var registry: String
    /// The repository path within the registry (`library/debian`).
    public var repository: String
    /// The tag, when the reference names one.
    public var tag: String?
    /// The digest, when the reference pins one. It wins over the tag.
    public var digest: Digest?
    /// Whether the text parsed named its registry host, rather than leaving
    /// it to the default.
    public private(set) var explicitRegistry = true

    /// Builds a reference from parts already split. `repository` is checked
    /// and, on Docker Hub, given the `library/` namespace when it has a single
    /// component.
    public init(registry: String, repository: String, tag: String? = nil, digest: Digest? = nil) throws(ReferenceError) {
        let registry = Self.canonicalRegistry(registry)
        try Self.validateRepository(repository, original: repository)
        if let tag { try Self.validateTag(tag) }
        self.registry = registry
        self.repository = (registry == Self.dockerHub && !repository.contains("/")) ? "library/" + repository : repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses a single reference such as `debian`, `debian:bookworm`,
    /// `docker.io/library/debian:bookworm`, `ghcr.io/o/i@sha256:<hex>` or
    /// `localhost:5000/x/y:t`. A reference with neither tag nor digest
    /// means the `latest` tag. A name without a registry host is on
    /// `defaultRegistry` (Docker Hub unless told otherwise).
    public init(parsing text: String, defaultRegistry: String = ImageReference.dockerHub) throws(ReferenceError) {
        guard !text.isEmpty else { throw .invalidReference(text, reason: "it is empty") }
        guard text.utf8.count <= 4096 else { throw .invalidReference(String(text.prefix(64)) + "…", reason: "it is too long") }
        if Self.isImageID(text) {
            throw .invalidReference(
                text, reason: "64 hexadecimal digits are an image ID, not a name (a digest is written NAME@sha256:<hex>; a repository of that name, docker.io/<hex>)")
        }
        var remainder = Substring(text)
        var digest: Digest?
        if let at = remainder.firstIndex(of: "@") {
            digest = try Digest(parsing: String(remainder[remainder.index(after: at)...]))
            remainder = remainder[..<at]
        }
        var tag: String?
        if let colon = remainder.lastIndex(of: ":"), !remainder[colon...].contains("/") {
            tag = String(remainder[remainder.index(after: colon)...])
            remainder = remainder[..<colon]
        }
        var registry = defaultRegistry
        var path = remainder
        if let slash = remainder.firstIndex(of: "/") {
            let first = remainder[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                registry = String(first)
                path = remainder[remainder.index(after: slash)...]
            }
        }
        try Self.validateRegistryHost(registry, original: text)
        try Self.validateRepository(String(path), original: text)
        if let tag { try Self.validateTag(tag) }
        let explicit = path.count != remainder.count
        try self.init(registry: registry, repository: String(path), tag: tag, digest: digest)
        explicitRegistry = explicit
    }

    public static func == (lhs: ImageReference, rhs: ImageReference) -> Bool {
        lhs.registry == rhs.registry && lhs.repository == rhs.repository && lhs.tag == rhs.tag && lhs.digest == rhs.digest
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(registry)
        hasher.combine(repository)
        hasher.combine(tag)
        hasher.combine(digest)
    }

    /// The tag or digest to ask the registry for: the digest when pinned,
    /// else the tag, else `latest`.
    public var reference: String {
        digest?.description ?? tag ?? "latest"
    }

    /// The full name: `registry/repository[:tag][@digest]`.
    public var description: String {
        var text = "\(registry)/\(repository)"
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    /// The name docker itself would show: Docker Hub images without
    /// `docker.io/` and `library/`, others with their registry.
    public var familiarName: String {
        guard registry == Self.dockerHub else { return "\(registry)/\(repository)" }
        return repository.hasPrefix("library/") ? String(repository.dropFirst("library/".count)) : repository
    }

    /// The names an image's docker-archive gives it (`RepoTags`), as `nix/`
    /// names the archives it builds: `name:tag`, the name defaulting to the
    /// familiar name of `repository()` (`debian`, `127.0.0.1:5000/team/app`).
    /// None without a tag, nor for a "tag" that is no tag (a digest written
    /// there by hand).
    public static func archiveNames<Failure: Error>(
        name: String?, tag: String?, repository: () throws(Failure) -> ImageReference
    ) throws(Failure) -> [String] {
        guard let tag, (try? validateTag(tag)) != nil else { return [] }
        if let name { return ["\(name):\(tag)"] }
        return ["\(try repository().familiarName):\(tag)"]
    }

    /// The names `hocker image` and `hocker load` give this image's
    /// docker-archive: `familiar-name:tag`; none for a reference by digest alone.
    public var archiveNames: [String] { Self.archiveNames(name: nil, tag: tag) { self } }

    /// The names Docker Hub goes by, `docker.io` among them.
    public static let dockerHubAliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]

    /// Maps the names Docker Hub goes by to `docker.io`.
    public static func canonicalRegistry(_ host: String) -> String {
        dockerHubAliases.contains(host.lowercased()) ? dockerHub : host
    }

    /// Checks a tag against docker's grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    public static func validateTag(_ tag: String) throws(ReferenceError) {
        let bytes = Array(tag.utf8)
        guard (1...128).contains(bytes.count), isWordByte(bytes[0]),
              bytes.allSatisfy({ isWordByte($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { throw .invalidTag(tag) }
    }

    /// Checks a repository path: `/`-separated components of lowercase
    /// letters and digits joined by `.`, `_`, `__` or runs of `-`.
    public static func validateRepository(_ path: String, original: String) throws(ReferenceError) {
        guard !path.isEmpty else { throw .invalidReference(original, reason: "the repository name is empty") }
        guard path.utf8.count <= 255 else { throw .invalidReference(original, reason: "the repository name is longer than 255 characters") }
        guard path.lowercased() == path else { throw .invalidReference(original, reason: "the repository name '\(path)' must be lowercase") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard isValidPathComponent(Array(component.utf8)) else {
                throw .invalidReference(
                    original,
                    reason: "'\(component)' is not a valid repository path component (lowercase letters, digits, and '.', '_', '__' or '-' between them)"
                )
            }
        }
    }

    /// Checks a registry host as docker's grammar has it: a domain name
    /// (labels of letters and digits, `-` inside a label, joined by `.`) or
    /// an IPv6 address in brackets (hex digits and `:` only), then an
    /// optional `:PORT` of digits.
    static func validateRegistryHost(_ host: String, original: String) throws(ReferenceError) {
        if let problem = hostProblem(host) {
            throw .invalidReference(original, reason: "'\(host)' is not a valid registry host: \(problem)")
        }
    }

    /// What is wrong with `host` in docker's grammar, or nil.
    static func hostProblem(_ host: String) -> String? {
        let bytes = Array(host.utf8)
        guard !bytes.isEmpty else { return "it is empty" }
        var index = 0
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return "the IPv6 address has no closing ']'" }
            let address = bytes[1..<close]
            guard !address.isEmpty, address.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") }) else {
                return "an IPv6 address in brackets is hex digits and ':' only (no embedded IPv4 address, no %zone)"
            }
            index = close + 1
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.count
            if bytes[..<end].contains(UInt8(ascii: ":")) || (end < bytes.count && bytes[(end + 1)...].contains(UInt8(ascii: ":"))) {
                return "an IPv6 address goes in brackets, with the port after them ([fc00::1]:5000)"
            }
            for label in bytes[..<end].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                guard let first = label.first, let last = label.last else { return "it has an empty label (two dots in a row, or a dot at an end)" }
                guard label.allSatisfy({ isAlphaNumeric($0) || $0 == UInt8(ascii: "-") }) else {
                    return "a host name is letters, digits, '-' and '.'"
                }
                guard isAlphaNumeric(first), isAlphaNumeric(last) else { return "a label of a host name starts and ends with a letter or digit" }
            }
            index = end
        }
        guard index < bytes.count else { return nil }
        let port = bytes[(index + 1)...]
        guard bytes[index] == UInt8(ascii: ":"), !port.isEmpty, port.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return "the port after ':' is digits"
        }
        return nil
    }

    /// Whether `text` is 64 lowercase hex digits and nothing else, which
    /// docker takes for an image ID.
    static func isImageID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func isValidPathComponent(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, let last = bytes.last, isLowerAlphaNumeric(first), isLowerAlphaNumeric(last) else {
            return false
        }
        var index = 0
        while index < bytes.count {
            let c = bytes[index]
            if isLowerAlphaNumeric(c) {
                index += 1
                continue
            }
            // A separator run: ".", "_", "__" or one or more "-".
            var end = index
            while end < bytes.count, !isLowerAlphaNumeric(bytes[end]) { end += 1 }
            let separator = bytes[index..<end]
            let valid = separator.elementsEqual([UInt8(ascii: ".")]) || separator.elementsEqual([UInt8(ascii: "_")])
                || separator.elementsEqual([UInt8(ascii: "_"), UInt8(ascii: "_")])
                || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            guard valid else { return false }
            index = end
        }
        return true
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x61...0x66).contains(c) || (0x41...0x46).contains(c)
    }

    private static func isLowerAlphaNumeric(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x61...0x7a).contains(c)
    }

    private static func isAlphaNumeric(_ c: UInt8) -> Bool {
        isLowerAlphaNumeric(c) || (0x41...0x5a).contains(c)
    }

    private static func isWordByte(_ c: UInt8) -> Bool {
        isAlphaNumeric(c) || c == UInt8(ascii: "_")
    }
}
