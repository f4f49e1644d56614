import Foundation

/// Media types of the OCI and Docker image formats the test bed produces or expects.
enum TestMediaTypes {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let ociConfig = "application/vnd.oci.image.config.v1+json"
    static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    static let refNameAnnotation = "org.opencontainers.image.ref.name"
}

/// An image platform (named `TestPlatform` to stay clear of the project's own `Platform`).
public struct TestPlatform: Sendable, Hashable, CustomStringConvertible {
    /// e.g. `linux`.
    public var os: String
    /// e.g. `amd64`, `arm64`.
    public var architecture: String
    /// e.g. `v8` for arm64, or `nil`.
    public var variant: String?

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// linux/amd64.
    public static let linuxAMD64 = TestPlatform(os: "linux", architecture: "amd64")
    /// linux/arm64/v8.
    public static let linuxARM64 = TestPlatform(os: "linux", architecture: "arm64", variant: "v8")

    /// `os/architecture[/variant]`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }
}

/// How one layer of a test image is made.
public struct TestLayerSpec: Sendable, Hashable {
    /// Determines the layer's content: same seed (and platform, unless shared), same bytes.
    public var seed: String
    /// Approximate size in bytes of the file content (incompressible, so also roughly
    /// the compressed size). Small values still give a valid, distinct layer.
    public var approximateSize: Int
    /// How many data files the layer holds (besides a small text file naming the seed).
    public var fileCount: Int
    /// When `true` the platform is not mixed into the seed, so every platform of a
    /// multi-platform image gets the very same blob (to test blob deduplication).
    public var sharedAcrossPlatforms: Bool

    public init(seed: String, approximateSize: Int = 4096, fileCount: Int = 3, sharedAcrossPlatforms: Bool = false) {
        self.seed = seed
        self.approximateSize = approximateSize
        self.fileCount = fileCount
        self.sharedAcrossPlatforms = sharedAcrossPlatforms
    }
}

/// One built layer blob.
public struct TestLayer: Sendable, Hashable {
    /// `sha256:<hex>` of the gzipped tar (the blob digest).
    public var digest: String
    /// Size of the gzipped blob in bytes.
    public var size: Int
    /// `sha256:<hex>` of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    public var diffID: String
    /// Size of the uncompressed tar in bytes.
    public var uncompressedSize: Int
    /// The media type used in the OCI manifest.
    public var mediaType: String
}

/// One platform's image inside a ``TestImage``.
public struct TestManifest: Sendable {
    /// The platform this manifest is for.
    public var platform: TestPlatform
    /// `sha256:<hex>` of ``manifestBytes``.
    public var manifestDigest: String
    /// The exact OCI manifest bytes.
    public var manifestBytes: Data
    /// `manifestBytes.count`.
    public var manifestSize: Int { manifestBytes.count }
    /// Always the OCI image manifest media type (skopeo may convert on push).
    public var manifestMediaType: String
    /// `sha256:<hex>` of ``configBytes``.
    public var configDigest: String
    /// Size of the config blob.
    public var configSize: Int { configBytes.count }
    /// The exact config JSON bytes.
    public var configBytes: Data
    /// The layers, bottom first.
    public var layers: [TestLayer]
}

/// An OCI image layout on disk made by ``TestImageBuilder``, with everything a test
/// needs to know about it.
public struct TestImage: Sendable {
    /// The OCI layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`).
    public var layoutPath: String
    /// The tag (`org.opencontainers.image.ref.name`) in the layout's `index.json`.
    public var tag: String
    /// One entry per platform, in the order requested.
    public var manifests: [TestManifest]
    /// `sha256:<hex>` of the OCI image index, for multi-platform images.
    public var indexDigest: String?
    /// The exact image index bytes, for multi-platform images.
    public var indexBytes: Data?

    /// `true` when the layout's top level is an image index.
    public var isMultiPlatform: Bool { indexDigest != nil }
    /// The digest the layout's `index.json` points at (index or single manifest).
    public var topDigest: String { indexDigest ?? manifests[0].manifestDigest }
    /// The platforms, in order.
    public var platforms: [TestPlatform] { manifests.map(\.platform) }
    /// The first (for single-platform images: the only) manifest.
    public var single: TestManifest { manifests[0] }
    /// The `oci:` transport reference skopeo understands, `oci:LAYOUT:TAG`.
    public var ociReference: String { "oci:\(layoutPath):\(tag)" }

    /// The manifest for `platform`, if the image has it.
    public func manifest(for platform: TestPlatform) -> TestManifest? {
        manifests.first { $0.platform == platform }
    }

    /// Deletes the layout directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: layoutPath)
    }
}
