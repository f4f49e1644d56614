/// An image manifest: Docker schema 2 or OCI. Its config and layers are
/// descriptors, layers bottom first.
///
/// The same document carries OCI 1.1 artifacts (an SBOM, a signature, an
/// attestation): ``artifact`` says whether it is one, and of what.
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    /// The artifact's type (OCI 1.1); nil for a container image, and for
    /// artifacts that say it only through their config's media type.
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    /// The manifest this one is about (OCI 1.1): a signature's or an SBOM's image.
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        schemaVersion: Int = 2, mediaType: String?, artifactType: String? = nil, config: Descriptor, layers: [Descriptor],
        subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }

    /// The config and then every layer: the blobs an image is made of.
    public var blobs: [Descriptor] { [config] + layers }

    /// The sum of the config's and the layers' sizes, in bytes.
    public var totalSize: Int64 { blobs.reduce(0) { $0 + $1.size } }

    /// What the manifest is an artifact of, nil for a container image: its
    /// `artifactType`; else its config's media type, when that is not an
    /// image config (the empty config `application/vnd.oci.empty.v1+json`,
    /// a Helm chart's, ...); else the media type of its first layer that is
    /// not a filesystem tar (an in-toto attestation behind an image config).
    /// An artifact is copied as it is into an OCI layout; it is no image a
    /// docker-archive can hold.
    public var artifact: String? {
        if let artifactType, !artifactType.isEmpty { return artifactType }
        if !MediaType.isImageConfig(config.mediaType) { return config.mediaType }
        return layers.first { !MediaType.isImageLayer($0.mediaType) }?.mediaType
    }

    /// Whether the manifest is a container image: an image config and filesystem layers.
    public var isImage: Bool { artifact == nil }
}
