import ImageReference

/// A manifest, index or config that hocker cannot use, or an image that
/// lacks what was asked of it.
public enum ImageSpecError: UserFacingError, Equatable {
    /// A document that does not parse or fails validation.
    case invalidManifest(String)
    /// A manifest format hocker does not read.
    case unsupportedManifest(String, reason: String)
    /// A registry served a Docker schema 1 manifest for this image
    /// (`HOST/REPOSITORY:TAG`), of this media type (`…v1+json` or `…v1+prettyjws`).
    case schema1(image: String, mediaType: String)
    /// An index with no manifest for the requested platform.
    case noMatchingPlatform(requested: Platform, available: [Platform], image: String)
    /// An index that lists no manifest at all, asked for an image.
    case emptyIndex(image: String)
    /// An index whose entries name no platform, several of them, asked for one image.
    case unlabelledEntries(image: String, entries: [UnlabelledEntry])
    /// An index entry picked for an image that is itself an index (the spec allows nesting).
    case nestedIndex(image: String, entry: Digest)
    /// An OCI artifact (of this type) asked for as a container image by
    /// what needs one (a docker-archive, the fetchdocker expression).
    case notAnImage(image: String, artifactType: String, refusedBy: ImageConsumer)
    /// An image whose config cannot make a docker-archive that docker and
    /// podman load: no `rootfs`, or `rootfs.diff_ids` that do not match the layers.
    case configNotLoadable(image: String, reason: String)
    /// An image config that is not JSON of the expected shape.
    case invalidConfig(String)
    /// A single-platform image whose config names another platform than the one asked for.
    case platformMismatch(image: String, requested: Platform, actual: Platform)
    /// A single-platform image whose platform cannot be read from its config, asked for a platform.
    case platformUnchecked(image: String, requested: Platform, reason: String)

    public var message: String {
        switch self {
        case .invalidManifest(let reason):
            "invalid manifest: \(reason)"
        case .unsupportedManifest(let type, let reason):
            "unsupported manifest type \(type): \(reason)"
        case .schema1(let image, let mediaType):
            "\(image) is a Docker schema 1 image (\(mediaType)), a deprecated format hocker does not read"
        case .noMatchingPlatform(let requested, let available, let image):
            available.isEmpty
                ? "no image for platform \(requested) in \(image): its index labels no entry with a platform (attestations, unknown/unknown, are not images)"
                : "no image for platform \(requested) in \(image); it has: \(available.map { TerminalText.field($0.description) }.joined(separator: ", "))"
        case .emptyIndex(let image):
            "\(image) is an empty index: it lists no manifest, so there is no image in it"
        case .unlabelledEntries(let image, let entries):
            "the index \(image) names no platform for its \(entries.count) manifests, so none can be picked by platform: "
                + entries.map { TerminalText.field($0.description) }.joined(separator: "; ")
        case .nestedIndex(let image, let entry):
            "the index \(image) lists another index, \(entry), where an image manifest was looked for"
        case .notAnImage(let image, let artifactType, let consumer):
            "\(image) is an OCI artifact (\(TerminalText.field(artifactType))), not a container image: \(consumer.needs)"
        case .configNotLoadable(let image, let reason):
            "the config of \(image) \(reason), so docker load and podman load would refuse a docker-archive of it"
        case .invalidConfig(let reason):
            "invalid image config: \(reason)"
        case .platformMismatch(let image, let requested, let actual):
            "\(image) is a single \(TerminalText.field(actual.description)) image, not \(requested): it is not a multi-platform index, so there is no \(requested) in it to pick"
        case .platformUnchecked(let image, let requested, let reason):
            "\(image) is a single image whose config does not say its platform (\(reason)), so it cannot be checked against \(requested)"
        }
    }

    public var hints: [String] {
        switch self {
        case .noMatchingPlatform:
            ["pick one with --platform os/arch[/variant], or print the index itself with --index"]
        case .unlabelledEntries(let image, let entries):
            ["pick one by its digest: \(Self.byDigest(image, entries[0].digest))", "or print the index itself with --index"]
        case .nestedIndex(let image, let entry):
            [
                "read that index by its digest: \(Self.byDigest(image, entry))",
                "hocker image --format oci --platform all copies the whole tree as it is",
            ]
        case .emptyIndex:
            ["hocker inspect shows what it is; hocker image --format oci --platform all copies it as it is"]
        case .notAnImage(_, _, let consumer):
            consumer.hints
        case .configNotLoadable:
            ["copy it as it is into an OCI layout: --format oci or --format oci-archive"]
        case .platformMismatch(_, _, let actual):
            ["to take it anyway: --platform \(actual) (or --platform any)"]
        case .platformUnchecked:
            ["to take it whatever it is for: --platform any"]
        case .unsupportedManifest(let type, _) where MediaType.isSchema1(type):
            ["schema 1 images cannot be fetched; ask for a newer tag"]
        case .schema1(let image, _):
            [
                "push the image again with a current docker, podman or skopeo, which write schema 2 or OCI manifests "
                    + "(skopeo copy --format v2s2 docker://\(image) docker://\(image) converts it where it is)",
                "or ask for a newer tag, pushed since",
            ]
        default:
            []
        }
    }

    /// `image` (`HOST/REPOSITORY:TAG`) pinned to `digest`: `HOST/REPOSITORY@DIGEST`.
    static func byDigest(_ image: String, _ digest: Digest) -> String {
        var name = Substring(image)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        // A tag's colon comes after the last slash; a port's before it.
        if let slash = name.lastIndex(of: "/"), let colon = name[slash...].firstIndex(of: ":") { name = name[..<colon] }
        return "\(name)@\(digest)"
    }
}

/// What needs a container image, and refuses an artifact.
public enum ImageConsumer: Sendable, Hashable {
    /// `hocker image` writing a docker-archive.
    case dockerArchive
    /// `docker2nix`'s fetchdocker expression (a docker-archive at build time).
    case fetchdockerExpression

    var needs: String {
        switch self {
        case .dockerArchive: "a docker-archive holds container images, as docker and podman load them"
        case .fetchdockerExpression: "the fetchdocker expression builds a docker-archive, which holds container images"
        }
    }

    var hints: [String] {
        switch self {
        case .dockerArchive:
            ["copy it as it is into an OCI layout: --format oci (a directory) or --format oci-archive (one tar)"]
        case .fetchdockerExpression:
            [
                "pin it with docker2nix --format hocker (or --json): nix/'s fetchImage builds it with format = \"oci-archive\"",
                "or copy it as it is: hocker image --format oci",
            ]
        }
    }
}
