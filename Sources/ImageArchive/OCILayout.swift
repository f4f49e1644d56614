#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec

/// The files of an OCI image layout (image-spec `image-layout.md`):
/// `oci-layout`, `index.json` and `blobs/<alg>/<hex>`, holding one image or
/// one multi-platform index with its images.
public struct OCILayout: Sendable {
    /// What `index.json` lists: an image manifest, or an index.
    public var top: Descriptor
    /// The tag recorded as `org.opencontainers.image.ref.name` (what
    /// `skopeo … oci:DIR:TAG` looks up), if any.
    public var referenceName: String?
    /// The full name recorded as `io.containerd.image.name` (what
    /// `ctr image import` names the image), if any.
    public var imageName: String?

    public init(top: Descriptor, referenceName: String?, imageName: String? = nil) {
        self.top = top
        self.referenceName = referenceName
        self.imageName = imageName
    }

    /// The contents of `oci-layout`.
    public static let layoutFileBytes = Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)

    /// The path of a blob relative to the layout's root.
    public static func blobPath(_ digest: Digest) -> String {
        "blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    /// Blobs to store once each, in order: a layer repeated in an image, or
    /// shared by two platforms, has one file.
    public static func uniqueBlobs(_ blobs: [Descriptor]) -> [Descriptor] {
        var seen: Set<Digest> = []
        return blobs.filter { seen.insert($0.digest).inserted }
    }

    /// Writes `oci-layout`, `index.json` and the manifest documents (the
    /// index, if any, and every image manifest) under `root`, and creates
    /// the `blobs/<alg>` directories.
    ///
    /// - Returns: the path under `root` for each of `blobs` (configs and
    ///   layers), stored once each, for the caller to fill.
    public func writeSkeleton(at root: String, documents: [ManifestDocument], blobs: [Descriptor]) throws -> [(blob: Descriptor, path: String)] {
        let unique = Self.uniqueBlobs(blobs).filter { blob in !documents.contains { $0.digest == blob.digest } }
        for algorithm in Set(([top] + documents.map(\.descriptor) + unique).map(\.digest.algorithm.rawValue)) {
            try FileManager.default.createDirectory(atPath: "\(root)/blobs/\(algorithm)", withIntermediateDirectories: true)
        }
        try Data(Self.layoutFileBytes).write(to: URL(fileURLWithPath: "\(root)/oci-layout"))
        try Data(indexBytes()).write(to: URL(fileURLWithPath: "\(root)/index.json"))
        for document in documents {
            try document.bytes.write(to: URL(fileURLWithPath: "\(root)/\(Self.blobPath(document.digest))"))
        }
        return unique.map { ($0, "\(root)/\(Self.blobPath($0.digest))") }
    }

    /// The contents of `index.json`.
    public func indexBytes() throws -> [UInt8] {
        var annotations: [String: String] = [:]
        if let referenceName { annotations["org.opencontainers.image.ref.name"] = referenceName }
        if let imageName { annotations["io.containerd.image.name"] = imageName }
        let entry = Descriptor(mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: annotations.isEmpty ? nil : annotations)
        return Array(try JSONDocument.compactBytes(of: ImageIndex(mediaType: MediaType.ociIndex, manifests: [entry])))
    }

    /// An OCI index of `images` (each with its platform): the index a
    /// layout gets for some, not all, of a multi-platform image's platforms.
    public static func index(of images: [(manifest: Descriptor, platform: Platform?)]) throws -> ManifestDocument {
        let entries = images.map { image in
            Descriptor(
                mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size,
                platform: image.platform.map(PlatformDescriptor.init))
        }
        return try ManifestDocument(bytes: try JSONDocument.compactBytes(of: ImageIndex(mediaType: MediaType.ociIndex, manifests: entries)), contentType: nil)
    }
}
