import ImageReference

/// `signedIdentity`: which `docker-reference` a signature must claim for
/// the image being checked, with containers/image's rules.
///
/// References are compared in their normalized form
/// (`docker.io/library/busybox:latest`), so `busybox:latest` in a
/// signature names the same image as `docker.io/library/busybox:latest`.
public enum SignedIdentityRule: Sendable, Hashable {
    /// `matchExact`: the signature names the image's exact reference, tag or digest included.
    case matchExact
    /// `matchRepoDigestOrExact` (the default): the exact tag when the image
    /// is named by tag; any reference in the same repository when it is
    /// named by digest (the digest itself is checked against the manifest).
    case matchRepoDigestOrExact
    /// `matchRepository`: the same repository, whatever tag or digest.
    case matchRepository
    /// `exactReference`: the signature names exactly this reference (tag or digest), whatever the image is called.
    case exactReference(String)
    /// `exactRepository`: the signature names this repository, whatever the image is called.
    case exactRepository(String)
    /// `remapIdentity`: an image whose name starts with `prefix` is
    /// checked as if named with `signedPrefix` instead (a mirror of a
    /// vendor's signed images), then as `matchRepoDigestOrExact`.
    case remapIdentity(prefix: String, signedPrefix: String)

    /// The `type` as the policy file spells it.
    public var typeName: String {
        switch self {
        case .matchExact: "matchExact"
        case .matchRepoDigestOrExact: "matchRepoDigestOrExact"
        case .matchRepository: "matchRepository"
        case .exactReference: "exactReference"
        case .exactRepository: "exactRepository"
        case .remapIdentity: "remapIdentity"
        }
    }

    /// Whether a signature claiming `signedReference` is acceptable for
    /// the image named `image`.
    ///
    /// `image` is the name the image was asked for: when it carries both a
    /// tag and a digest (a pinned tag), the tag is the identity compared,
    /// as skopeo compares `docker://NAME:TAG`; the digest is checked
    /// against the manifest separately. An image named with neither is
    /// `:latest`, as skopeo names `docker://NAME`. A `signedReference` that
    /// does not parse never matches.
    public func matches(image: ImageReference, signedReference: String) -> Bool {
        var intended = image
        if intended.tag != nil { intended.digest = nil }
        if intended.isNameOnly { intended.tag = "latest" }
        guard let signed = try? ImageReference(parsing: signedReference) else { return false }
        switch self {
        case .matchExact:
            return !intended.isNameOnly && !signed.isNameOnly && signed.description == intended.description
        case .matchRepoDigestOrExact:
            return Self.repoDigestOrExact(intended: intended, signed: signed)
        case .matchRepository:
            return signed.name == intended.name
        case .exactReference(let reference):
            guard let wanted = try? ImageReference(parsing: reference) else { return false }
            return !wanted.isNameOnly && !signed.isNameOnly && signed.description == wanted.description
        case .exactRepository(let repository):
            guard let wanted = try? ImageReference(parsing: repository) else { return false }
            return signed.name == wanted.name
        case .remapIdentity(let prefix, let signedPrefix):
            guard let remapped = Self.remap(intended, prefix: prefix, signedPrefix: signedPrefix) else { return false }
            return Self.repoDigestOrExact(intended: remapped, signed: signed)
        }
    }

    private static func repoDigestOrExact(intended: ImageReference, signed: ImageReference) -> Bool {
        guard !signed.isNameOnly else { return false }
        if intended.tag != nil { return signed.description == intended.description }
        if intended.digest != nil { return signed.name == intended.name }
        return false
    }

    /// `intended` renamed from `prefix` to `signedPrefix` when its name is
    /// `prefix` or lies under `prefix/`; unchanged otherwise; nil when the
    /// renamed text is not a reference in its canonical form.
    static func remap(_ intended: ImageReference, prefix: String, signedPrefix: String) -> ImageReference? {
        let name = intended.name
        guard name == prefix || name.hasPrefix(prefix + "/") else { return intended }
        var renamed = intended.description
        guard let range = renamed.firstRange(of: prefix) else { return intended }
        renamed.replaceSubrange(range, with: signedPrefix)
        guard let parsed = try? ImageReference(parsing: renamed), parsed.description == renamed else { return nil }
        return parsed
    }

    /// Why `prefix` cannot be a `remapIdentity` prefix, or nil: it must be
    /// a registry host (`host[:port]`), or a host followed by `/` and a
    /// repository path.
    static func prefixProblem(_ prefix: String) -> String? {
        if RegistryHostSyntax.isHost(prefix) { return nil }
        guard let slash = prefix.firstIndex(of: "/"), RegistryHostSyntax.isHost(String(prefix[..<slash])) else {
            return "it is neither a registry host nor a host followed by a repository path"
        }
        do {
            try ImageReference.validateRepository(String(prefix[prefix.index(after: slash)...]), original: prefix)
        } catch {
            return error.message
        }
        return nil
    }
}

extension ImageReference {
    /// `registry/repository`, without tag or digest.
    var name: String { "\(registry)/\(repository)" }

    /// Whether the reference names neither a tag nor a digest.
    var isNameOnly: Bool { tag == nil && digest == nil }
}

/// Docker's grammar for a registry host: dot-separated labels of letters
/// and digits with inner `-`, or an IPv6 address in brackets, then an
/// optional `:PORT`.
enum RegistryHostSyntax {
    static func isHost(_ text: String) -> Bool {
        var host = Substring(text)
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isASCIIDigit) else { return false }
            host = host[..<colon]
        }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return false }
            return host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            return label.allSatisfy { $0.isASCIIAlphaNumeric || $0 == "-" } && first.isASCIIAlphaNumeric && last.isASCIIAlphaNumeric
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    var isASCIIAlphaNumeric: Bool { isASCII && (isLetter || isNumber) }
}
