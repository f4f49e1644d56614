import Foundation
import ImageReference
import ImageSpec

/// The files of an OCI image layout (image-spec `image-layout.md`) holding
/// one image: `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
public struct OCILayout: Sendable {
    /// The manifest's descriptor, as `index.json` lists it.
    public var manifest: Descriptor
    /// The tag recorded as `org.opencontainers.image.ref.name`, if any.
    public var referenceName: String?

    public init(manifest: Descriptor, referenceName: String?) {
        self.manifest = manifest
        self.referenceName = referenceName
    }

    /// The contents of `oci-layout`.
    public static let layoutFileBytes = Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)

    /// The path of a blob relative to the layout's root.
    public static func blobPath(_ digest: Digest) -> String {
        "blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    /// Blobs to store once each, in order: a layer repeated in an image, or
    /// equal to its config, has one file.
    public static func uniqueBlobs(_ blobs: [Descriptor]) -> [Descriptor] {
        var seen: Set<Digest> = []
        return blobs.filter { seen.insert($0.digest).inserted }
    }

    /// Writes `oci-layout`, `index.json` and the manifest (`manifestBytes`)
    /// under `root`, and creates the `blobs/<alg>` directories.
    ///
    /// - Returns: the path under `root` for each of `blobs` (config and
    ///   layers), stored once each, for the caller to fill.
    public func writeSkeleton(at root: String, manifestBytes: Data, blobs: [Descriptor]) throws -> [(blob: Descriptor, path: String)] {
        let unique = Self.uniqueBlobs(blobs)
        for algorithm in Set(([manifest] + unique).map(\.digest.algorithm.rawValue)) {
            try FileManager.default.createDirectory(atPath: "\(root)/blobs/\(algorithm)", withIntermediateDirectories: true)
        }
        try Data(Self.layoutFileBytes).write(to: URL(fileURLWithPath: "\(root)/oci-layout"))
        try Data(indexBytes()).write(to: URL(fileURLWithPath: "\(root)/index.json"))
        try manifestBytes.write(to: URL(fileURLWithPath: "\(root)/\(Self.blobPath(manifest.digest))"))
        return unique.map { ($0, "\(root)/\(Self.blobPath($0.digest))") }
    }

    /// The contents of `index.json`.
    public func indexBytes() throws -> [UInt8] {
        struct Entry: Encodable {
            var mediaType: String
            var digest: String
            var size: Int64
            var annotations: [String: String]?
        }
        struct Index: Encodable {
            var schemaVersion = 2
            var mediaType = "application/vnd.oci.image.index.v1+json"
            var manifests: [Entry]
        }
        let annotations = referenceName.map { ["org.opencontainers.image.ref.name": $0] }
        let index = Index(manifests: [Entry(mediaType: manifest.mediaType, digest: manifest.digest.description, size: manifest.size, annotations: annotations)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(index))
    }
}
