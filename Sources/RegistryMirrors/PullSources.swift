import ImageReference

/// One place an image may be pulled from: a mirror, or the primary location.
public struct PullSource: Sendable, Hashable, CustomStringConvertible {
    public enum Role: Sendable, Hashable {
        /// A mirror, with where it was configured (`FILE:LINE`, `--mirror`, `HOCKER_MIRROR`).
        case mirror(origin: String)
        /// Where the image itself is (after any `location` rewrite).
        case primary
    }

    /// The image as this source names it: its host as the registry, its path
    /// before the repository (`mirror.example/dockerhub` serves
    /// `docker.io/library/x` as `mirror.example/dockerhub/library/x`).
    public var image: ImageReference
    /// Plain http and TLS without verification for this source.
    public var insecure: Bool
    public var role: Role

    public init(image: ImageReference, insecure: Bool, role: Role) {
        self.image = image
        self.insecure = insecure
        self.role = role
    }

    public var isMirror: Bool { role != .primary }

    /// `mirror 127.0.0.1:5001` or `registry.example` (the host, then the path when the repository moved).
    public var description: String {
        switch role {
        case .mirror: "mirror \(image.registry)"
        case .primary: image.registry
        }
    }
}

/// Why a pull may not go ahead at all.
public enum PullSourceError: UserFacingError, Hashable {
    /// A `[[registry]]` with `blocked = true` matches the image.
    case blocked(image: String, origin: String)
    /// A `--mirror` or `HOCKER_MIRROR` value that is not `HOST[/PATH]`.
    case invalidMirror(text: String, origin: String, reason: String)
    /// The image name with a location rewrite is no valid reference.
    case invalidRewrite(image: String, location: String, origin: String, reason: String)

    public var message: String {
        switch self {
        case .blocked(let image, let origin):
            "pulling \(image) is blocked by \(origin) (blocked = true)"
        case .invalidMirror(let text, let origin, let reason):
            "\(origin) '\(text)' is not HOST[:PORT][/PATH]: \(reason)"
        case .invalidRewrite(let image, let location, let origin, let reason):
            "\(image) under \(location) (\(origin)) is no image name: \(reason)"
        }
    }

    public var hints: [String] {
        switch self {
        case .blocked: ["remove blocked = true there, or pull from another registry"]
        case .invalidMirror: ["for example --mirror mirror.example:5000 or --mirror mirror.example/dockerhub (no scheme: a loopback host or --insecure allows plain http)"]
        case .invalidRewrite: ["check that [[registry]]'s location and prefix in containers-registries.conf(5)"]
        }
    }

    public var exitStatus: ExitStatus { .usage }
}

/// Where a pull of an image goes, in order: the mirrors given for this run
/// (`--mirror`, `HOCKER_MIRROR`), then those of the `[[registry]]` whose
/// prefix matches the image best, then the primary location — the image
/// itself, or where that `[[registry]]`'s `location` moves it.
public struct PullPlan: Sendable, Hashable {
    public var sources: [PullSource]

    /// The mirrors `--mirror` (or `HOCKER_MIRROR`) names: `HOST[:PORT][/PATH]` each.
    public static func mirrors(parsing values: [String], origin: String) throws(PullSourceError) -> [MirrorRule] {
        var rules: [MirrorRule] = []
        for raw in values {
            let text = String(raw.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            guard !text.isEmpty else { continue }
            if text.contains("://") {
                throw .invalidMirror(text: text, origin: origin, reason: "it has a scheme")
            }
            do {
                rules.append(MirrorRule(location: try MirrorLocation(parsing: text).description, origin: origin))
            } catch {
                throw .invalidMirror(text: text, origin: origin, reason: error.reason)
            }
        }
        return rules
    }

    /// The sources for `image`.
    ///
    /// - Parameters:
    ///   - runMirrors: `--mirror` / `HOCKER_MIRROR`, tried first, for pulls by tag and by digest.
    ///   - configuration: registries.conf.
    ///   - byDigest: whether the pull is by digest (a blob alone is): `digest-only`
    ///     mirrors serve only those, `tag-only` ones only the others.
    ///   - insecure: `--insecure`, for every source.
    public init(
        image: ImageReference, runMirrors: [MirrorRule], configuration: RegistriesConfiguration, byDigest: Bool, insecure: Bool
    ) throws(PullSourceError) {
        let name = "\(image.registry)/\(image.repository)"
        let rule = Self.rule(for: image, in: configuration)
        if let rule, rule.blocked { throw .blocked(image: image.description, origin: rule.origin) }
        var sources: [PullSource] = []
        for mirror in runMirrors where mirror.pullFrom.allows(byDigest: byDigest) {
            sources.append(PullSource(
                image: try Self.move(image, under: mirror.location, rest: image.repository, origin: mirror.origin), insecure: insecure || mirror.insecure,
                role: .mirror(origin: mirror.origin)))
        }
        var primary = PullSource(image: image, insecure: insecure || (rule?.insecure ?? false), role: .primary)
        if let rule {
            let rest = Self.rest(of: name, after: rule.prefix)
            for mirror in rule.mirrors where mirror.pullFrom.allows(byDigest: byDigest) {
                sources.append(PullSource(
                    image: try Self.move(image, under: mirror.location, rest: rest, origin: mirror.origin), insecure: insecure || mirror.insecure,
                    role: .mirror(origin: mirror.origin)))
            }
            if let location = rule.location, location != rule.prefix {
                primary.image = try Self.move(image, under: location, rest: rest, origin: rule.origin)
            }
        }
        self.sources = sources + [primary]
    }

    /// The `[[registry]]` whose prefix is the longest that `image`'s name
    /// starts with (followed by `/`, `:`, `@` or nothing); a `*.domain`
    /// prefix matches any subdomain's host.
    public static func rule(for image: ImageReference, in configuration: RegistriesConfiguration) -> RegistryRule? {
        var full = "\(image.registry)/\(image.repository)"
        if let tag = image.tag { full += ":\(tag)" }
        if let digest = image.digest { full += "@\(digest)" }
        var best: (rule: RegistryRule, length: Int)?
        for rule in configuration.registries {
            let length: Int
            if rule.prefix.hasPrefix("*.") {
                let domain = rule.prefix.dropFirst(1).lowercased()
                let host = image.registry.lowercased()
                let bare = host.split(separator: ":").first.map(String.init) ?? host
                guard bare.hasSuffix(domain) else { continue }
                length = rule.prefix.count
            } else {
                let prefix = canonical(prefix: rule.prefix)
                guard full.hasPrefix(prefix) else { continue }
                let next = full.dropFirst(prefix.count).first
                guard next == nil || next == "/" || next == ":" || next == "@" else { continue }
                length = prefix.count
            }
            if length > (best?.length ?? -1) { best = (rule, length) }
        }
        return best?.rule
    }

    /// A non-wildcard prefix with its host as image names spell it (`docker.io`, not `index.docker.io`).
    private static func canonical(prefix: String) -> String {
        let host = String(prefix.prefix { $0 != "/" })
        return ImageReference.canonicalRegistry(host) + prefix.dropFirst(host.count)
    }

    /// What follows the prefix in the repository path, to be put under a mirror's or location's path.
    private static func rest(of name: String, after prefix: String) -> String {
        guard !prefix.hasPrefix("*.") else {
            // A wildcard rewrites nothing: the mirror gets the repository as it is.
            return String(name.drop { $0 != "/" }.dropFirst())
        }
        return String(name.dropFirst(canonical(prefix: prefix).count).drop { $0 == "/" })
    }

    /// `image` at `location` (`host[/path]`), its repository `path/rest`.
    private static func move(_ image: ImageReference, under location: String, rest: String, origin: String) throws(PullSourceError) -> ImageReference {
        let parsed: MirrorLocation
        do {
            parsed = try MirrorLocation(parsing: location)
        } catch {
            throw .invalidRewrite(image: image.description, location: location, origin: origin, reason: error.reason)
        }
        let repository = [parsed.path, rest].filter { !$0.isEmpty }.joined(separator: "/")
        do {
            // Docker Hub as a mirror still wants `library/` for a one-part name.
            return try ImageReference(registry: parsed.host, repository: repository, tag: image.tag, digest: image.digest)
        } catch {
            throw .invalidRewrite(image: image.description, location: location, origin: origin, reason: error.message)
        }
    }
}
