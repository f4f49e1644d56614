#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageReference
import ImageSpec
import RegistryClient

/// What `hocker inspect` prints of an image: the digest its reference
/// names, and for each platform the manifest and what its config says.
///
/// As `--json` prints it (keys sorted, every field present):
///
/// ```
/// {
///   "digest" : "sha256:…",                   // what the reference names: index or manifest
///   "images" : [ {
///       "configDigest" : "sha256:…",
///       "created" : "2024-05-01T12:00:00Z",   // the config's, null when it has none
///       "labels" : { "org.opencontainers.image.version" : "1.2" },
///       "layers" : 3,
///       "manifestDigest" : "sha256:…",
///       "manifestMediaType" : "application/vnd.oci.image.manifest.v1+json",
///       "manifestSize" : 1101,                // bytes
///       "platform" : "linux/amd64",           // null when the config names none
///       "size" : 52651234                     // bytes: the config and the layers, as stored (compressed)
///   } ],
///   "mediaType" : "application/vnd.oci.image.index.v1+json",
///   "reference" : "127.0.0.1:5000/team/app:1.2",
///   "referrers" : {                           // of `digest`, by artifact type; null when they could not be counted
///     "application/vnd.dev.cosign.artifact.sig.v1+json" : 1
///   }
/// }
/// ```
public struct ImageInspection: Codable, Sendable, Hashable {
    /// One platform's image manifest and what its config says.
    public struct Image: Codable, Sendable, Hashable {
        /// `os/arch[/variant]`: the index entry's, else the config's; nil when neither says.
        @ExplicitNull public var platform: String?
        public var manifestDigest: Digest
        public var manifestMediaType: String
        /// The manifest's size in bytes.
        public var manifestSize: Int64
        public var configDigest: Digest
        /// The config's and the layers' sizes, in bytes.
        public var size: Int64
        /// How many layers the manifest lists.
        public var layers: Int
        /// The config's `created`, as written.
        @ExplicitNull public var created: String?
        /// The config's `config.Labels`; empty when it has none.
        public var labels: [String: String]
    }

    /// The image as asked for, `registry/repository:tag`.
    public var reference: String
    /// What the reference names: the index, or the image manifest.
    public var digest: Digest
    /// The media type of what `digest` names.
    public var mediaType: String
    /// One per platform, in the index's order (or as `--platform` asked).
    public var images: [Image]
    /// How many manifests refer to `digest` (OCI 1.1 referrers: signatures,
    /// SBOMs, attestations), by artifact type; nil when the registry could
    /// not say.
    public var referrers: [String: Int]?

    enum CodingKeys: String, CodingKey {
        case reference, digest, mediaType, images, referrers
    }

    public init(reference: String, digest: Digest, mediaType: String, images: [Image], referrers: [String: Int]? = nil) {
        self.reference = reference
        self.digest = digest
        self.mediaType = mediaType
        self.images = images
        self.referrers = referrers
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reference, forKey: .reference)
        try container.encode(digest, forKey: .digest)
        try container.encode(mediaType, forKey: .mediaType)
        try container.encode(images, forKey: .images)
        try container.encode(referrers, forKey: .referrers)
    }

    /// Inspects `image`: its manifest, and for an index the image manifests
    /// `choice` picks (every one for `.all`); each image's config is read
    /// into memory. No layer is downloaded.
    public static func inspect(_ image: ImageReference, platforms choice: PlatformChoice, client: RegistryClient) async throws -> ImageInspection {
        let resolved = try await client.resolveImages(image, platforms: choice)
        let top = resolved.index ?? resolved.images[0].document
        var images: [Image] = []
        for entry in resolved.images {
            let config = try await ImagePin.configuration(of: entry.manifest, image: image, client: client)
            images.append(Image(
                platform: (entry.platform ?? config.platform)?.description, manifestDigest: entry.document.digest,
                manifestMediaType: entry.document.mediaType, manifestSize: Int64(entry.document.bytes.count), configDigest: entry.manifest.config.digest,
                size: entry.manifest.totalSize, layers: entry.manifest.layers.count, created: config.created, labels: config.labels))
        }
        return ImageInspection(
            reference: "\(client.endpoint.name)/\(image.repositoryReference)", digest: top.digest, mediaType: top.mediaType, images: images)
    }

    /// The document `--json` prints: pretty-printed, keys sorted, a newline at the end.
    public func jsonBytes() throws -> Data {
        try JSONDocument.bytes(of: self)
    }
}

/// `hocker digest`: the digest a reference names, or one platform's.
public enum ImageDigestLookup {
    /// The digest `image` names, from one `HEAD` (a `GET` only where the
    /// registry sends no digest on `HEAD`). With a platform, the digest of
    /// that platform's image manifest: the index is fetched and the entry's
    /// digest read from it (the image manifest itself is not); a single
    /// image manifest is that platform's only when its config says so (or
    /// names none).
    public static func digest(of image: ImageReference, platform: Platform?, client: RegistryClient) async throws -> Digest {
        guard let platform else { return try await client.manifestDigest(image).digest }
        let document = try await client.fetchManifest(image)
        switch document.content {
        case .index(let index):
            guard let entry = index.entry(for: platform) else {
                throw ImageSpecError.noMatchingPlatform(
                    requested: platform, available: index.platforms, image: "\(client.endpoint.host)/\(image.repositoryReference)")
            }
            return entry.digest
        case .image(let manifest):
            if let actual = try await ImagePin.configuration(of: manifest, image: image, client: client).platform, !platform.matches(actual) {
                throw ImageSpecError.platformMismatch(image: "\(client.endpoint.host)/\(image.repositoryReference)", requested: platform, actual: actual)
            }
            return document.digest
        }
    }
}
