import ImageReference

/// A manifest, index or config that hocker cannot use, or an image that
/// lacks what was asked of it.
public enum ImageSpecError: UserFacingError, Equatable {
    /// A document that does not parse or fails validation.
    case invalidManifest(String)
    /// A manifest format hocker does not read.
    case unsupportedManifest(String, reason: String)
    /// A registry served a Docker schema 1 manifest for this image
    /// (`HOST/REPOSITORY:TAG`).
    case schema1(image: String)
    /// An index with no manifest for the requested platform.
    case noMatchingPlatform(requested: Platform, available: [Platform], image: String)
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
        case .schema1(let image):
            "\(image) is a Docker schema 1 image (\(MediaType.dockerSchema1Signed)), a deprecated format hocker does not read"
        case .noMatchingPlatform(let requested, let available, let image):
            "no image for platform \(requested) in \(image); it has: \(available.map(\.description).joined(separator: ", "))"
        case .invalidConfig(let reason):
            "invalid image config: \(reason)"
        case .platformMismatch(let image, let requested, let actual):
            "\(image) is a single \(actual) image, not \(requested): it is not a multi-platform index, so there is no \(requested) in it to pick"
        case .platformUnchecked(let image, let requested, let reason):
            "\(image) is a single image whose config does not say its platform (\(reason)), so it cannot be checked against \(requested)"
        }
    }

    public var hints: [String] {
        switch self {
        case .noMatchingPlatform:
            ["pick one with --platform os/arch[/variant], or print the index itself with --index"]
        case .platformMismatch(_, _, let actual):
            ["to take it anyway: --platform \(actual) (or --platform any)"]
        case .platformUnchecked:
            ["to take it whatever it is for: --platform any"]
        case .unsupportedManifest(let type, _) where MediaType.isSchema1(type):
            ["schema 1 images cannot be fetched; ask for a newer tag"]
        case .schema1(let image):
            [
                "push the image again with a current docker, podman or skopeo, which write schema 2 or OCI manifests "
                    + "(skopeo copy --format v2s2 docker://\(image) docker://\(image) converts it where it is)",
                "or ask for a newer tag, pushed since",
            ]
        default:
            []
        }
    }
}
