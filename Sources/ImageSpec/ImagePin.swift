#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// An image pinned by digest, for one or several platforms: what
/// `docker2nix --json` prints, what `docker2nix --format hocker` passes to
/// the `nix/` library's `fetchImage`, and the resolution a lock entry keeps.
/// The JSON document and the Nix attribute set have the same fields, so
/// `fetchImage (builtins.fromJSON (builtins.readFile ./image.json))` works too.
///
/// The JSON document (``jsonBytes()``; keys sorted, every field present,
/// `null` where there is no value):
///
/// ```
/// {
///   "formatVersion": 1,
///   "name": "debian",                                   // short name: --altName or the last path component
///   "registry": "https://registry-1.docker.io/v2/",     // the registry API URI
///   "repository": "library/debian",                     // the full repository path
///   "tag": "jessie",                                    // null when pinned by digest only
///   "digest": "sha256:…",                               // what the tag named: the index, or the single image manifest
///   "mediaType": "application/vnd.oci.image.index.v1+json",  // its media type
///   "indexDigest": "sha256:…",                          // the index the tag named, else null
///   "indexMediaType": "application/vnd.oci.image.index.v1+json",  // or null
///   "images": [                                         // one per platform, in index order
///     {
///       "platform": "linux/amd64",                      // os/arch[/variant]; null when unknown
///       "manifestDigest": "sha256:…",
///       "manifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
///       "manifestSize": 529,
///       "config": { "digest": "sha256:…", "size": 1528, "mediaType": "…", "hash": "sha256-<base64>" },
///       "layers": [ { "digest": "sha256:…", "size": 52550276, "mediaType": "…", "hash": "sha256-<base64>" } ],
///       "artifactType": "application/spdx+json"         // only for an OCI artifact (an SBOM, a signature); absent for an image
///     }
///   ]
/// }
/// ```
///
/// `hash` is the digest in SRI form, the `outputHash` of the blob's
/// fixed-output derivation; it is written, never read back (the digest says
/// the same). Fields are only ever added, with `formatVersion` raised when
/// one changes meaning: `digest` and `mediaType` came later within version 1,
/// so a document without them reads as naming its index, or else its single
/// image manifest.
public struct ImagePin: Codable, Sendable, Hashable {
    /// The version of this document's layout.
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    public var name: String
    public var registry: String
    public var repository: String
    @ExplicitNull public var tag: String?
    /// What the tag (or the digest asked for) named: the index, or the single
    /// image manifest. The string a bot edits when a tag moves; nil only for
    /// a pin with neither an index nor exactly one image.
    @ExplicitNull public var digest: Digest?
    /// The media type of what `digest` names.
    @ExplicitNull public var mediaType: String?
    @ExplicitNull public var indexDigest: Digest?
    @ExplicitNull public var indexMediaType: String?
    public var images: [PlatformImage]

    /// A pin; `digest` and `mediaType` default to the index's, else to the
    /// single image manifest's.
    public init(
        name: String, registry: String, repository: String, tag: String?, digest: Digest? = nil, mediaType: String? = nil,
        indexDigest: Digest? = nil, indexMediaType: String? = nil, images: [PlatformImage]
    ) {
        formatVersion = Self.currentFormatVersion
        self.name = name
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.indexDigest = indexDigest
        self.indexMediaType = indexMediaType
        self.images = images
        self.digest = digest ?? resolvedDigest
        self.mediaType = mediaType ?? resolvedMediaType
    }

    /// The digest the images were resolved from: the index's, else the
    /// single image manifest's. `digest` differs from it only in a document
    /// edited since (a bot's bump not yet re-resolved).
    public var resolvedDigest: Digest? {
        indexDigest ?? (images.count == 1 ? images[0].manifestDigest : nil)
    }

    /// The media type of ``resolvedDigest``.
    public var resolvedMediaType: String? {
        indexDigest != nil ? indexMediaType : (images.count == 1 ? images[0].manifestMediaType : nil)
    }

    /// One platform's image manifest and its blobs.
    public struct PlatformImage: Codable, Sendable, Hashable {
        /// `os/arch[/variant]`, nil when not known (a manifest read from stdin).
        @ExplicitNull public var platform: String?
        public var manifestDigest: Digest
        public var manifestMediaType: String
        public var manifestSize: Int64
        @PinnedForm public var config: Descriptor
        @PinnedForm public var layers: [Descriptor]
        /// What the manifest is an artifact of (``ImageManifest/artifact``):
        /// written only for an artifact, which `nix/` builds as an
        /// oci-archive and never as a docker-archive; absent for an image.
        public var artifactType: String?

        public init(
            platform: String?, manifestDigest: Digest, manifestMediaType: String, manifestSize: Int64, config: Descriptor, layers: [Descriptor],
            artifactType: String? = nil
        ) {
            self.platform = platform
            self.manifestDigest = manifestDigest
            self.manifestMediaType = manifestMediaType
            self.manifestSize = manifestSize
            self.config = config
            self.layers = layers
            self.artifactType = artifactType
        }

        /// The image `manifest` (the document `document`) for `platform`.
        public init(platform: Platform?, document: ManifestDocument, manifest: ImageManifest) {
            self.init(
                platform: platform?.description, manifestDigest: document.digest, manifestMediaType: document.mediaType,
                manifestSize: Int64(document.bytes.count), config: manifest.config.pinned, layers: manifest.layers.map(\.pinned),
                artifactType: manifest.artifact)
        }

        /// The manifest's descriptor, as an index lists it.
        public var manifest: Descriptor {
            Descriptor(mediaType: manifestMediaType, digest: manifestDigest, size: manifestSize)
        }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion, name, registry, repository, tag, digest, mediaType, indexDigest, indexMediaType, images
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try container.decode(Int.self, forKey: .formatVersion)
        name = try container.decode(String.self, forKey: .name)
        registry = try container.decode(String.self, forKey: .registry)
        repository = try container.decode(String.self, forKey: .repository)
        _tag = try container.decode(ExplicitNull<String>.self, forKey: .tag)
        _indexDigest = try container.decode(ExplicitNull<Digest>.self, forKey: .indexDigest)
        _indexMediaType = try container.decode(ExplicitNull<String>.self, forKey: .indexMediaType)
        images = try container.decode([PlatformImage].self, forKey: .images)
        // Absent from documents written before the fields were added.
        _digest = ExplicitNull(wrappedValue: try container.decodeIfPresent(Digest.self, forKey: .digest) ?? resolvedDigest)
        _mediaType = ExplicitNull(wrappedValue: try container.decodeIfPresent(String.self, forKey: .mediaType) ?? resolvedMediaType)
    }

    /// The JSON document: pretty-printed, keys sorted, ending with a newline.
    public func jsonBytes() throws -> [UInt8] {
        Array(try JSONDocument.bytes(of: self))
    }
}

extension Descriptor {
    /// The descriptor with only what a pin keeps of a blob: media type, digest, size.
    public var pinned: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: size) }
}

/// Blobs as a pin writes them: digest, size, media type and `hash`, the
/// digest in SRI form — the `outputHash` of the blob's fixed-output
/// derivation, written and never read back (the digest says the same).
/// Read as descriptors with nothing but those three fields.
@propertyWrapper
public struct PinnedForm<Value: PinnedBlobs>: Codable, Sendable, Hashable {
    public var wrappedValue: Value

    public init(wrappedValue: Value) {
        self.wrappedValue = wrappedValue.pinnedBlobs
    }

    public init(from decoder: any Decoder) throws {
        wrappedValue = try Value(from: decoder).pinnedBlobs
    }

    public func encode(to encoder: any Encoder) throws {
        try wrappedValue.encodePinned(to: encoder)
    }
}

/// A blob, or blobs, that a pin writes in its own form (``PinnedForm``).
public protocol PinnedBlobs: Codable, Sendable, Hashable {
    /// The value with nothing of each blob but its media type, digest and size.
    var pinnedBlobs: Self { get }
    func encodePinned(to encoder: any Encoder) throws
}

extension Descriptor: PinnedBlobs {
    public var pinnedBlobs: Descriptor { pinned }

    public func encodePinned(to encoder: any Encoder) throws {
        try PinnedBlob(digest: digest, size: size, mediaType: mediaType, hash: digest.subresourceIntegrity).encode(to: encoder)
    }

    private struct PinnedBlob: Encodable {
        var digest: Digest
        var size: Int64
        var mediaType: String
        var hash: String
    }
}

extension Array: PinnedBlobs where Element == Descriptor {
    public var pinnedBlobs: [Descriptor] { map(\.pinned) }

    public func encodePinned(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for blob in self { try blob.encodePinned(to: container.superEncoder()) }
    }
}
