#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import ImageTrust

/// What `hocker lock add` was asked for: kept so that `update` resolves
/// the same thing again.
///
/// In the lock file (every field present, `null` where there is no value):
///
/// ```
/// "request": {
///   "finalName": null,                       // --final-name NAME, else null
///   "finalTag": null,                        // --final-name NAME:TAG, else null
///   "platforms": ["linux/amd64"],            // see `platforms`
///   "reference": "127.0.0.1:5000/team/app:1.2"
/// }
/// ```
public struct LockRequest: Codable, Sendable, Hashable {
    /// The reference as it was given to `lock add` (relative to the entry's
    /// `registry` when it names no host). `update` rewrites its tag when the
    /// entry's `tag` was edited, so the two always agree after an update.
    public var reference: String
    /// The platforms asked for, `os/arch[/variant]` each, or `["all"]` for
    /// every image of an index. Without `--platform` it records what was
    /// pinned — this machine's platform from an index, a single image's own —
    /// so the file means the same on every machine. Empty only for a single
    /// image whose config names no platform.
    public var platforms: [String]
    /// The repository the loaded image is named (`--final-name`); nil for the registry's name.
    @ExplicitNull public var finalName: String?
    /// The tag the loaded image gets (`--final-name NAME:TAG`); nil for the entry's tag.
    @ExplicitNull public var finalTag: String?

    public init(reference: String, platforms: [String], finalName: String? = nil, finalTag: String? = nil) {
        self.reference = reference
        self.platforms = platforms
        self.finalName = finalName
        self.finalTag = finalTag
    }

    /// The word `platforms` holds for every image of an index.
    public static let allPlatforms = "all"

    /// The platforms the request asks for, as the one type every use case
    /// takes: `.all`, `.host` for none recorded (a single image whose config
    /// names no platform), else those named.
    public func platformChoice() throws(PlatformChoiceError) -> PlatformChoice {
        try PlatformChoice(parsing: platforms)
    }

    /// The tag `reference` names: its own, `latest` when it names neither
    /// tag nor digest, nil when it is pinned by digest.
    public var referenceTag: String? {
        if reference.contains("@") { return Self.tagPart(of: String(reference.prefix { $0 != "@" })) }
        return Self.tagPart(of: reference) ?? "latest"
    }

    /// The digest `reference` pins, if any.
    public var referenceDigest: Digest? {
        guard let at = reference.firstIndex(of: "@") else { return nil }
        return try? Digest(parsing: String(reference[reference.index(after: at)...]))
    }

    /// The request with `reference` naming `tag` instead of its own (the name
    /// kept as it was written). A reference pinned by digest is left alone.
    public func following(tag: String) -> LockRequest {
        guard !reference.contains("@"), referenceTag != tag else { return self }
        var copy = self
        let name = Self.tagPart(of: reference).map { String(reference.dropLast($0.count + 1)) } ?? reference
        copy.reference = name + ":" + tag
        return copy
    }

    /// The text after the colon that starts a tag (one after the last `/`).
    private static func tagPart(of text: String) -> String? {
        guard let colon = text.lastIndex(of: ":"), !text[colon...].contains("/") else { return nil }
        return String(text[text.index(after: colon)...])
    }

    enum CodingKeys: String, CodingKey {
        case reference, platforms, finalName, finalTag
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reference = try container.decode(String.self, forKey: .reference)
        platforms = try container.decodeIfPresent([String].self, forKey: .platforms) ?? []
        finalName = try container.decodeIfPresent(String.self, forKey: .finalName)
        finalTag = try container.decodeIfPresent(String.self, forKey: .finalTag)
    }
}

/// One image in the lock file: the request and its resolution, an
/// ``ImagePin`` — the very document `docker2nix --json` prints, with a
/// `request` object beside its fields, and `trust` when a signature policy
/// applied. The pin's `name` is the entry's name (its key in `entries`).
///
/// `trust` (absent when no policy was in force, or when it asked for no
/// signature: `insecureAcceptAnything`) records, per manifest
/// pinned (the index and each platform's), what satisfied each
/// requirement of containers-policy.json:
///
/// ```
/// "trust": {
///   "sha256:…": [ {                          // a manifest's digest
///     "keyFingerprint": "08CD…",              // OpenPGP, or SHA256:<hex> of a cosign key
///     "signature": { "kind": "lookaside", "url": "https://…/signature-1" },
///     "signedIdentity": "registry.example/team/app:1.2",
///     "type": "signedBy"                      // or sigstoreSigned (certificateIdentity, certificateIssuer), insecureAcceptAnything
///   } ]
/// }
/// ```
public struct LockEntry: Codable, Sendable, Hashable {
    /// What was asked.
    public var request: LockRequest
    /// What it resolved to; its `name` is the entry's.
    public var pin: ImagePin
    /// What satisfied the signature policy, by manifest digest; nil when no
    /// policy was in force when it was pinned, or it asked for no signature.
    public var trust: [String: [TrustProof]]?

    public init(request: LockRequest, pin: ImagePin, trust: [String: [TrustProof]]? = nil) {
        self.request = request
        self.pin = pin
        self.trust = trust
    }

    /// The entry's name, its key in the lock file.
    public var name: String { pin.name }

    private enum EntryKey: String, CodingKey {
        case request, trust
    }

    public init(from decoder: any Decoder) throws {
        pin = try ImagePin(from: decoder)
        let container = try decoder.container(keyedBy: EntryKey.self)
        request = try container.decode(LockRequest.self, forKey: .request)
        trust = try container.decodeIfPresent([String: [TrustProof]].self, forKey: .trust)
    }

    public func encode(to encoder: any Encoder) throws {
        // The pin's fields, `request` and `trust` in one object: the containers are the encoder's one keyed container.
        try pin.encode(to: encoder)
        var container = encoder.container(keyedBy: EntryKey.self)
        try container.encode(request, forKey: .request)
        // Absent, not null, without a policy: a lock written before policies were read stays byte for byte as it was.
        try container.encodeIfPresent(trust, forKey: .trust)
    }

    /// The manifests a policy is checked on: the index, if any, and each platform's.
    public var pinnedManifests: [Digest] {
        (pin.indexDigest.map { [$0] } ?? []) + pin.images.map(\.manifestDigest)
    }

    /// The registry endpoint the entry's `registry` names.
    public func endpoint(insecure: Bool = false) throws(ReferenceError) -> RegistryEndpoint {
        try RegistryEndpoint(parsing: pin.registry, insecure: insecure)
    }

    /// The image to ask the registry about: the entry's `tag`, or, for an
    /// entry pinned by digest, that digest.
    public func image(insecure: Bool = false) throws(ReferenceError) -> ImageReference {
        let endpoint = try endpoint(insecure: insecure)
        if pin.tag == nil || request.referenceDigest != nil {
            return try ImageReference(registry: endpoint.name, repository: pin.repository, tag: pin.tag, digest: request.referenceDigest ?? pin.digest)
        }
        return try ImageReference(registry: endpoint.name, repository: pin.repository, tag: pin.tag)
    }

    /// `registry/repository:tag` (or `@digest`), the image as lines name it.
    public var imageName: String {
        let host = (try? endpoint().name) ?? pin.registry
        if let tag = pin.tag, request.referenceDigest == nil { return "\(host)/\(pin.repository):\(tag)" }
        return "\(host)/\(pin.repository)@\(request.referenceDigest?.description ?? pin.digest?.description ?? "?")"
    }

    /// What is wrong with the entry as written, without asking the registry:
    /// an edit of its `digest` or `tag` not yet re-resolved (a bot's bump),
    /// or images that are not what the request asked for. Empty for an
    /// entry as `lock add` or `lock update` wrote it.
    public var problems: [EntryProblem] {
        var problems: [EntryProblem] = []
        guard let resolved = pin.resolvedDigest, !pin.images.isEmpty else {
            return [.incomplete("it lists \(pin.images.count) images and no index")]
        }
        guard let digest = pin.digest else { return [.incomplete("it has no digest")] }
        if digest != resolved { problems.append(.digestEdited(recorded: digest, resolved: resolved)) }
        if request.referenceDigest == nil, pin.tag != request.referenceTag {
            problems.append(.tagEdited(requested: request.referenceTag, recorded: pin.tag))
        }
        let choice: PlatformChoice
        do {
            choice = try request.platformChoice()
        } catch {
            return problems + [.incomplete("its request's platforms do not parse: \(error.message)")]
        }
        if case .platforms(let platforms) = choice {
            let known = pin.images.compactMap { $0.platform.flatMap { try? Platform(parsing: $0) } }
            // A single image whose config names no platform cannot be checked.
            if !(pin.images.count == 1 && known.isEmpty) {
                for platform in platforms where !known.contains(where: { platform.matches($0) }) {
                    problems.append(.platformMissing(platform.description))
                }
            }
        }
        return problems
    }

    /// The sizes of the distinct blobs of every image (configs and layers), in bytes.
    public var totalSize: Int64 {
        var seen: Set<Digest> = []
        var total: Int64 = 0
        for image in pin.images {
            for blob in [image.config] + image.layers where seen.insert(blob.digest).inserted { total += blob.size }
        }
        return total
    }

    /// The platforms pinned, as `os/arch[/variant]` (`?` for an image that names none).
    public var platformNames: [String] { pin.images.map { $0.platform ?? "?" } }
}

/// Something in an entry that does not hold together, found without a
/// request: `check` reports it, `update` re-resolves the entry.
public enum EntryProblem: Sendable, Hashable, CustomStringConvertible {
    /// `digest` says one thing, the images belong to another: it was edited.
    case digestEdited(recorded: Digest, resolved: Digest)
    /// `tag` is not the tag of the request's reference: it was edited.
    case tagEdited(requested: String?, recorded: String?)
    /// A platform the request asks for has no image in the entry.
    case platformMissing(String)
    /// The entry lacks what every entry has.
    case incomplete(String)

    public var description: String {
        switch self {
        case .digestEdited(let recorded, let resolved):
            "digest edited to \(recorded.abbreviated), the images are those of \(resolved.abbreviated)"
        case .tagEdited(let requested, let recorded):
            "tag edited from \(requested ?? "none") to \(recorded ?? "none")"
        case .platformMissing(let platform):
            "no image for \(platform), which the request asks for"
        case .incomplete(let reason):
            "incomplete: \(reason)"
        }
    }
}

