import ImageReference

/// Which pulls a mirror serves (`pull-from-mirror`).
public enum MirrorPullPolicy: String, Sendable, Hashable, CaseIterable {
    /// Pulls by tag and by digest (the default).
    case all
    /// Pulls by digest only: a tag may name another image on a mirror that is behind.
    case digestOnly = "digest-only"
    /// Pulls by tag only.
    case tagOnly = "tag-only"

    /// Whether a pull by digest (`byDigest`) or by tag may use the mirror.
    public func allows(byDigest: Bool) -> Bool {
        switch self {
        case .all: true
        case .digestOnly: byDigest
        case .tagOnly: !byDigest
        }
    }
}

/// One `[[registry.mirror]]`, or one `--mirror` / `HOCKER_MIRROR` entry.
public struct MirrorRule: Sendable, Hashable {
    /// `host[:port][/path]`: where the mirror serves the namespace.
    public var location: String
    /// Plain http and TLS without verification for this mirror.
    public var insecure: Bool
    public var pullFrom: MirrorPullPolicy
    /// Where it was written (`FILE:LINE`, `--mirror`, `HOCKER_MIRROR`), for messages.
    public var origin: String

    public init(location: String, insecure: Bool = false, pullFrom: MirrorPullPolicy = .all, origin: String) {
        self.location = location
        self.insecure = insecure
        self.pullFrom = pullFrom
        self.origin = origin
    }
}

/// One `[[registry]]` table.
public struct RegistryRule: Sendable, Hashable {
    /// The image names it applies to (`host[:port][/namespace…]`, or `*.domain`).
    public var prefix: String
    /// Where those images really are; nil for a wildcard prefix without one
    /// (names are used as given).
    public var location: String?
    public var insecure: Bool
    /// Pulls of matching images are refused.
    public var blocked: Bool
    /// `mirror-by-digest-only`: every mirror serves pulls by digest only.
    public var mirrorByDigestOnly: Bool
    public var mirrors: [MirrorRule]
    /// `FILE:LINE` of its `[[registry]]` header.
    public var origin: String

    public init(
        prefix: String, location: String?, insecure: Bool = false, blocked: Bool = false, mirrorByDigestOnly: Bool = false,
        mirrors: [MirrorRule] = [], origin: String
    ) {
        self.prefix = prefix
        self.location = location
        self.insecure = insecure
        self.blocked = blocked
        self.mirrorByDigestOnly = mirrorByDigestOnly
        self.mirrors = mirrors
        self.origin = origin
    }
}

/// A registries.conf file that cannot be used: the file and line, what is
/// wrong there, and what to do.
public struct RegistriesConfError: UserFacingError, Hashable {
    /// The file as the reading layer named it.
    public var path: String
    /// 1-based; nil when the file as a whole is at fault (it cannot be read).
    public var line: Int?
    public var reason: String

    public init(path: String, line: Int?, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    public var message: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(reason)" }
    public var hints: [String] {
        ["fix the file (containers-registries.conf(5) describes it), or name another with --registries-conf FILE (or CONTAINERS_REGISTRIES_CONF)"]
    }
    public var exitStatus: ExitStatus { .usage }
}

/// What registries.conf files say about pulling: each `[[registry]]` and its
/// mirrors. Keys hocker has no use for (`unqualified-search-registries`,
/// `[aliases]`, `credential-helpers`, `short-name-mode`, …) are read and left alone.
public struct RegistriesConfiguration: Sendable, Hashable {
    public var registries: [RegistryRule]

    public init(registries: [RegistryRule] = []) { self.registries = registries }

    /// Parses one file's text; `path` is only for messages.
    public init(parsing text: String, path: String) throws(RegistriesConfError) {
        let document: TOMLTable
        do {
            document = try TOMLSubset.parse(text)
        } catch {
            throw RegistriesConfError(path: path, line: error.line, reason: error.reason)
        }
        var registries: [RegistryRule] = []
        switch document["registry"] {
        case nil: break
        case .tables(let tables):
            for table in tables { registries.append(try Self.registry(table, path: path)) }
        case let other?:
            throw RegistriesConfError(
                path: path, line: document.lines["registry"],
                reason: "'registry' is \(other.kind); each registry is a [[registry]] table (two brackets)")
        }
        self.registries = registries
    }

    /// This configuration with a later file's over it, as containers-registries.conf.d(5)
    /// has drop-ins work: a `[[registry]]` with a prefix already known replaces it, others are added.
    public func merging(_ later: RegistriesConfiguration) -> RegistriesConfiguration {
        var merged = registries
        for rule in later.registries {
            if let at = merged.firstIndex(where: { $0.prefix == rule.prefix }) {
                merged[at] = rule
            } else {
                merged.append(rule)
            }
        }
        return RegistriesConfiguration(registries: merged)
    }

    // MARK: Decoding

    private static func registry(_ table: TOMLTable, path: String) throws(RegistriesConfError) -> RegistryRule {
        let origin = "\(path):\(table.line)"
        let location = try string("location", in: table, path: path)
        let prefix = try string("prefix", in: table, path: path)
        guard let chosen = prefix ?? location, !chosen.isEmpty else {
            throw RegistriesConfError(path: path, line: table.line, reason: "a [[registry]] needs a location (or a prefix)")
        }
        let isWildcard = chosen.hasPrefix("*.")
        if isWildcard {
            guard !chosen.dropFirst(2).contains(where: { $0 == "/" || $0 == ":" || $0 == "*" }) else {
                throw RegistriesConfError(
                    path: path, line: table.lines["prefix"] ?? table.line,
                    reason: "the prefix '\(chosen)' has a wildcard; only '*.domain' is allowed, with no port, path or second '*'")
            }
        } else {
            try checkLocation(chosen, key: prefix != nil ? "prefix" : "location", in: table, path: path)
        }
        if let location, !location.isEmpty { try checkLocation(location, key: "location", in: table, path: path) }
        if location?.isEmpty ?? true, !isWildcard {
            throw RegistriesConfError(path: path, line: table.lines["location"] ?? table.line, reason: "'location' is empty; only a '*.domain' prefix may go without one")
        }
        let digestOnly = try bool("mirror-by-digest-only", in: table, path: path) ?? false
        var mirrors: [MirrorRule] = []
        switch table["mirror"] {
        case nil: break
        case .tables(let list):
            for mirror in list {
                let mirrorOrigin = "\(path):\(mirror.line)"
                guard let mirrorLocation = try string("location", in: mirror, path: path), !mirrorLocation.isEmpty else {
                    throw RegistriesConfError(path: path, line: mirror.line, reason: "a [[registry.mirror]] needs a location")
                }
                try checkLocation(mirrorLocation, key: "location", in: mirror, path: path)
                var policy = MirrorPullPolicy.all
                if let text = try string("pull-from-mirror", in: mirror, path: path), !text.isEmpty {
                    guard let known = MirrorPullPolicy(rawValue: text) else {
                        throw RegistriesConfError(
                            path: path, line: mirror.lines["pull-from-mirror"],
                            reason: "pull-from-mirror is '\(text)'; it takes all, digest-only or tag-only")
                    }
                    if digestOnly, known != .all {
                        throw RegistriesConfError(
                            path: path, line: mirror.lines["pull-from-mirror"],
                            reason: "pull-from-mirror cannot be set where the registry has mirror-by-digest-only = true; keep one of the two")
                    }
                    policy = known
                }
                if digestOnly { policy = .digestOnly }
                mirrors.append(MirrorRule(
                    location: mirrorLocation, insecure: try bool("insecure", in: mirror, path: path) ?? false, pullFrom: policy, origin: mirrorOrigin))
            }
        case let other?:
            throw RegistriesConfError(
                path: path, line: table.lines["mirror"], reason: "'mirror' is \(other.kind); each mirror is a [[registry.mirror]] table")
        }
        return RegistryRule(
            prefix: chosen, location: (location?.isEmpty ?? true) ? (isWildcard ? nil : chosen) : location,
            insecure: try bool("insecure", in: table, path: path) ?? false, blocked: try bool("blocked", in: table, path: path) ?? false,
            mirrorByDigestOnly: digestOnly, mirrors: mirrors, origin: origin)
    }

    private static func string(_ key: String, in table: TOMLTable, path: String) throws(RegistriesConfError) -> String? {
        switch table[key] {
        case nil: return nil
        case .string(let text): return text
        case let other?:
            throw RegistriesConfError(path: path, line: table.lines[key], reason: "'\(key)' is \(other.kind); it takes a string in quotes")
        }
    }

    private static func bool(_ key: String, in table: TOMLTable, path: String) throws(RegistriesConfError) -> Bool? {
        switch table[key] {
        case nil: return nil
        case .bool(let value): return value
        case let other?:
            throw RegistriesConfError(path: path, line: table.lines[key], reason: "'\(key)' is \(other.kind); it takes true or false")
        }
    }

    /// A location or prefix: `host[:port][/path]`, no scheme.
    private static func checkLocation(_ text: String, key: String, in table: TOMLTable, path: String) throws(RegistriesConfError) {
        let line = table.lines[key] ?? table.line
        if text.contains("://") {
            throw RegistriesConfError(
                path: path, line: line, reason: "\(key) '\(text)' has a scheme; write host[:port][/path] (plain http: insecure = true)")
        }
        do {
            _ = try MirrorLocation(parsing: text)
        } catch {
            throw RegistriesConfError(path: path, line: line, reason: "\(key) '\(text)': \(error.reason)")
        }
    }
}

/// `host[:port][/path]` as a location, a prefix or `--mirror` gives it.
public struct MirrorLocation: Sendable, Hashable, CustomStringConvertible {
    /// `host[:port]`.
    public var host: String
    /// The namespace under the host, without slashes at either end; empty for none.
    public var path: String

    public struct Invalid: Error, Sendable {
        public var reason: String
    }

    public init(parsing text: String) throws(Invalid) {
        var rest = Substring(text)
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { throw Invalid(reason: "it is empty") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        host = String(rest[..<slash])
        path = String(rest[slash...].dropFirst())
        let allowed = host.unicodeScalars.allSatisfy { c in
            c.properties.isASCIIHexDigit || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ".-:[]".unicodeScalars.contains(c)
        }
        guard allowed, !host.hasPrefix("."), !host.hasPrefix("-"), !host.hasPrefix(":") else {
            throw Invalid(reason: "'\(host)' is not a host[:port]")
        }
        guard path.isEmpty || !path.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            throw Invalid(reason: "the path '\(path)' has an empty component")
        }
    }

    public var description: String { path.isEmpty ? host : "\(host)/\(path)" }
}
