import Foundation
import ImageReference

/// An image pinned by digest, for one or several platforms: what
/// `docker2nix --json` prints and what `docker2nix --format hocker` passes to
/// the `nix/` library's `fetchImage`. The JSON document and the Nix
/// attribute set have the same fields, so `fetchImage (builtins.fromJSON
/// (builtins.readFile ./image.json))` works too.
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
///   "indexDigest": "sha256:…",                          // the index the tag named, else null
///   "indexMediaType": "application/vnd.oci.image.index.v1+json",  // or null
///   "images": [                                         // one per platform, in index order
///     {
///       "platform": "linux/amd64",                      // os/arch[/variant]; null when unknown
///       "manifestDigest": "sha256:…",
///       "manifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
///       "manifestSize": 529,
///       "config": { "digest": "sha256:…", "size": 1528, "mediaType": "…", "hash": "sha256-<base64>" },
///       "layers": [ { "digest": "sha256:…", "size": 52550276, "mediaType": "…", "hash": "sha256-<base64>" } ]
///     }
///   ]
/// }
/// ```
///
/// `hash` is the digest in SRI form, the `outputHash` of the blob's
/// fixed-output derivation. Fields are only ever added, with
/// `formatVersion` raised when one changes meaning.
public struct ImagePin: Codable, Sendable, Hashable {
    /// The version of this document's layout.
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    public var name: String
    public var registry: String
    public var repository: String
    public var tag: String?
    public var indexDigest: Digest?
    public var indexMediaType: String?
    public var images: [PlatformImage]

    public init(
        name: String, registry: String, repository: String, tag: String?, indexDigest: Digest? = nil, indexMediaType: String? = nil,
        images: [PlatformImage]
    ) {
        formatVersion = Self.currentFormatVersion
        self.name = name
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.indexDigest = indexDigest
        self.indexMediaType = indexMediaType
        self.images = images
    }

    /// One platform's image manifest and its blobs.
    public struct PlatformImage: Codable, Sendable, Hashable {
        /// `os/arch[/variant]`, nil when not known (a manifest read from stdin).
        public var platform: String?
        public var manifestDigest: Digest
        public var manifestMediaType: String
        public var manifestSize: Int64
        public var config: Blob
        public var layers: [Blob]

        public init(platform: String?, manifestDigest: Digest, manifestMediaType: String, manifestSize: Int64, config: Blob, layers: [Blob]) {
            self.platform = platform
            self.manifestDigest = manifestDigest
            self.manifestMediaType = manifestMediaType
            self.manifestSize = manifestSize
            self.config = config
            self.layers = layers
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(platform, forKey: .platform)
            try container.encode(manifestDigest, forKey: .manifestDigest)
            try container.encode(manifestMediaType, forKey: .manifestMediaType)
            try container.encode(manifestSize, forKey: .manifestSize)
            try container.encode(config, forKey: .config)
            try container.encode(layers, forKey: .layers)
        }
    }

    /// A blob: digest, size, media type, and the digest as an SRI hash.
    public struct Blob: Codable, Sendable, Hashable {
        public var digest: Digest
        public var size: Int64
        public var mediaType: String
        /// `sha256-<base64>`: the same SHA-256 as `digest`.
        public var hash: String

        public init(digest: Digest, size: Int64, mediaType: String) throws(NixGenerationError) {
            self.digest = digest
            self.size = size
            self.mediaType = mediaType
            hash = try NixHash.sri(digest)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(formatVersion, forKey: .formatVersion)
        try container.encode(name, forKey: .name)
        try container.encode(registry, forKey: .registry)
        try container.encode(repository, forKey: .repository)
        try container.encode(tag, forKey: .tag)
        try container.encode(indexDigest, forKey: .indexDigest)
        try container.encode(indexMediaType, forKey: .indexMediaType)
        try container.encode(images, forKey: .images)
    }

    /// The JSON document: pretty-printed, keys sorted, ending with a newline.
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    /// The attribute set with the JSON document's fields, in a fixed order.
    public var nixValue: NixExpr {
        .attrs([
            .attr("formatVersion", .integer(Int64(formatVersion))),
            .attr("name", .string(name)),
            .attr("registry", .string(registry)),
            .attr("repository", .string(repository)),
            .attr("tag", .optionalString(tag)),
            .attr("indexDigest", .optionalString(indexDigest?.description)),
            .attr("indexMediaType", .optionalString(indexMediaType)),
            .attr("images", .list(images.map(\.nixValue))),
        ])
    }
}

extension ImagePin.PlatformImage {
    var nixValue: NixExpr {
        .attrs([
            .attr("platform", .optionalString(platform)),
            .attr("manifestDigest", .string(manifestDigest.description)),
            .attr("manifestMediaType", .string(manifestMediaType)),
            .attr("manifestSize", .integer(manifestSize)),
            .attr("config", config.nixValue),
            .attr("layers", .list(layers.map(\.nixValue))),
        ])
    }
}

extension ImagePin.Blob {
    var nixValue: NixExpr {
        .attrs([
            .attr("digest", .string(digest.description)),
            .attr("size", .integer(size)),
            .attr("mediaType", .string(mediaType)),
            .attr("hash", .string(hash)),
        ])
    }
}

/// `docker2nix --format hocker`: `{ fetchImage }: fetchImage { <the pin> }`,
/// for the project's own `nix/` library, which picks the platform for the
/// system it evaluates for.
public enum HockerImageExpression {
    /// The expression tree for `pin`.
    public static func expression(for pin: ImagePin) throws(NixGenerationError) -> NixExpr {
        guard !pin.images.isEmpty else { throw .noImages }
        return .lambda(.names(["fetchImage"]), .call(.variable("fetchImage"), pin.nixValue))
    }

    /// The source text, in the conventional layout.
    public static func render(_ pin: ImagePin) throws(NixGenerationError) -> String {
        let tree = try expression(for: pin)
        do {
            return try NixPrinter(style: .standard).render(tree)
        } catch {
            throw .render(error)
        }
    }
}
