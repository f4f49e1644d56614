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
///       "platform" : "linux/amd64",           // null when neither the index nor the config names one
///       "size" : 52651234,                    // bytes: the config and the layers, as stored (compressed)
///       "artifactType" : null                 // what an OCI artifact (an SBOM, a signature) is; null for an image
///   } ],                                      // empty for an empty index
///   "mediaType" : "application/vnd.oci.image.index.v1+json",
///   "artifactType" : null,                    // an index of artifacts' own artifactType, or the single artifact's
///   "reference" : "127.0.0.1:5000/team/app:1.2",
///   "referrers" : {                           // of `digest`, by artifact type; null when they could not be counted
///     "application/vnd.dev.cosign.artifact.sig.v1+json" : 1
///   }
/// }
/// ```
///
/// An artifact's config is not an image config: it is not read, and its
/// `created` and `labels` are empty.
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
        /// What the manifest is an artifact of; nil for a container image.
        @ExplicitNull public var artifactType: String?
    }

    /// The image as asked for, `registry/repository:tag`.
    public var reference: String
    /// What the reference names: the index, or the image manifest.
    public var digest: Digest
    /// The media type of what `digest` names.
    public var mediaType: String
    /// One per platform, in the index's order (or as `--platform` asked);
    /// none for an empty index.
    public var images: [Image]
    /// How many manifests refer to `digest` (OCI 1.1 referrers: signatures,
    /// SBOMs, attestations), by artifact type; nil when the registry could
    /// not say.
    public var referrers: [String: Int]?
    /// The index's `artifactType`, or the single manifest's artifact type; nil for images.
    public var artifactType: String?

    enum CodingKeys: String, CodingKey {
        case reference, digest, mediaType, images, referrers, artifactType
    }

    public init(
        reference: String, digest: Digest, mediaType: String, images: [Image], referrers: [String: Int]? = nil, artifactType: String? = nil
    ) {
        self.reference = reference
        self.digest = digest
        self.mediaType = mediaType
        self.images = images
        self.referrers = referrers
        self.artifactType = artifactType
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reference, forKey: .reference)
        try container.encode(digest, forKey: .digest)
        try container.encode(mediaType, forKey: .mediaType)
        try container.encode(images, forKey: .images)
        try container.encode(referrers, forKey: .referrers)
        try container.encode(artifactType, forKey: .artifactType)
    }

    /// Inspects `image`: its manifest, and for an index the image manifests
    /// `choice` picks (every one for `.all`, none of an empty index); each
    /// image's config is read into memory, an artifact's is not. No layer
    /// is downloaded.
    public static func inspect(_ image: ImageReference, platforms choice: PlatformChoice, client: RegistryClient) async throws -> ImageInspection {
        let resolved = try await client.resolveImages(image, platforms: choice)
        let top = resolved.index ?? resolved.images[0].document
        var images: [Image] = []
        for entry in resolved.images {
            let artifact = entry.manifest.artifact
            var config: ImageConfiguration?
            if artifact == nil { config = try await ImagePin.configuration(of: entry.manifest, image: image, client: client) }
            images.append(Image(
                platform: (entry.platform ?? config?.platform)?.description, manifestDigest: entry.document.digest,
                manifestMediaType: entry.document.mediaType, manifestSize: Int64(entry.document.bytes.count), configDigest: entry.manifest.config.digest,
                size: entry.manifest.totalSize, layers: entry.manifest.layers.count, created: config?.created, labels: config?.labels ?? [:],
                artifactType: artifact))
        }
        let artifactType = resolved.index == nil ? resolved.images[0].manifest.artifact : top.index?.artifactType
        return ImageInspection(
            reference: "\(client.endpoint.name)/\(image.repositoryReference)", digest: top.digest, mediaType: top.mediaType, images: images,
            artifactType: artifactType)
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
        let name = "\(client.endpoint.host)/\(image.repositoryReference)"
        switch document.content {
        case .index(let index):
            let selection = try index.select(.exactly(platform), image: name)
            guard selection.unlabelled else { return selection.entries[0].digest }
            // The only entry, with no platform: its config says what it is for, as a single image's does.
            var child = image
            child.digest = selection.entries[0].digest
            let entry = try await client.fetchManifest(child)
            if let manifest = entry.imageManifest { try await check(manifest, of: image, name: name, against: platform, client: client) }
            return entry.digest
        case .image(let manifest):
            try await check(manifest, of: image, name: name, against: platform, client: client)
            return document.digest
        }
    }

    /// Refuses a single image whose config names another platform than `platform`; an artifact names none.
    private static func check(
        _ manifest: ImageManifest, of image: ImageReference, name: String, against platform: Platform, client: RegistryClient
    ) async throws {
        guard manifest.isImage else { return }
        if let actual = try await ImagePin.configuration(of: manifest, image: image, client: client).platform, !platform.matches(actual) {
            throw ImageSpecError.platformMismatch(image: name, requested: platform, actual: actual)
        }
    }
}
