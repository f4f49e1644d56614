import ImageReference

/// A content descriptor: what a manifest says of a blob or of another
/// manifest — its media type, digest and size — and, in an index, the
/// platform it is for. The one description of "a blob" every module uses.
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    /// Size in bytes.
    public var size: Int64
    /// The platform of an index entry; nil elsewhere.
    public var platform: PlatformDescriptor?
    /// Where a non-distributable layer may also be fetched from.
    public var urls: [String]?
    public var annotations: [String: String]?
    /// What an OCI 1.1 artifact is (a referrers listing names it for each
    /// manifest: `application/vnd.dev.cosign.artifact.sig.v1+json`, an SBOM's
    /// type); nil for images and wherever it is not said.
    public var artifactType: String?
    /// The content itself, base64, when the descriptor embeds it (OCI 1.1);
    /// the blob is still what the digest names.
    public var data: String?

    public init(
        mediaType: String, digest: Digest, size: Int64, platform: PlatformDescriptor? = nil, urls: [String]? = nil,
        annotations: [String: String]? = nil, artifactType: String? = nil, data: String? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.urls = urls
        self.annotations = annotations
        self.artifactType = artifactType
        self.data = data
    }
}

/// The `platform` object of an index entry.
public struct PlatformDescriptor: Codable, Hashable, Sendable {
    public var os: String
    public var architecture: String
    public var variant: String?
    public var osVersion: String?

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant
        case osVersion = "os.version"
    }

    public init(_ platform: Platform) {
        os = platform.os
        architecture = platform.architecture
        variant = platform.variant
    }

    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }
}
