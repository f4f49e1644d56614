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
import SystemPackage

extension Descriptor {
    /// The file-name suffix for a layer of this media type.
    var layerFileExtension: String {
        if mediaType.hasSuffix("gzip") { return "tar.gz" }
        if mediaType.hasSuffix("zstd") { return "tar.zst" }
        return "tar"
    }
}

/// A tar archive laid out before any byte is fetched: its entries — files
/// whose bytes the layout holds, blobs to fetch into their data ranges,
/// directories — and every entry's offset. Because every size is known from
/// the manifests, blobs can be written straight into their place in the tar,
/// concurrently, or the whole archive streamed in order.
public struct TarLayout: Sendable {
    public struct Entry: Sendable {
        public enum Content: Sendable {
            /// Bytes the layout itself generates.
            case inline([UInt8])
            /// A blob to fetch into the entry's data range.
            case blob(Descriptor)
            /// A directory: a header and no data.
            case directory
        }

        public var header: TarHeader
        /// Where the 512-byte header starts in the archive.
        public var headerOffset: Int64
        /// Where the data starts: `headerOffset + 512`.
        public var dataOffset: Int64 { headerOffset + Int64(TarHeader.blockSize) }
        public var content: Content
    }

    public let entries: [Entry]
    /// The archive's size in bytes, end-of-archive blocks included.
    public let totalSize: Int64

    /// Lays out `files` in this order: each a path in the archive and what it holds.
    public init(_ files: [(name: String, content: Entry.Content)]) throws {
        var entries: [Entry] = []
        var offset: Int64 = 0
        for (name, content) in files {
            let header: TarHeader
            switch content {
            case .inline(let bytes): header = try TarHeader(name: name, size: Int64(bytes.count))
            case .blob(let blob): header = try TarHeader(name: name, size: blob.size)
            case .directory: header = try TarHeader(directory: name)
            }
            entries.append(Entry(header: header, headerOffset: offset, content: content))
            offset += Int64(TarHeader.blockSize) + header.paddedSize
        }
        self.entries = entries
        // Two zero blocks end a tar archive.
        totalSize = offset + 2 * Int64(TarHeader.blockSize)
    }

    /// The entry name of a layer in a docker-archive hocker writes.
    public static func dockerArchiveLayerName(_ layer: Descriptor) -> String {
        "\(layer.digest.hex).\(layer.layerFileExtension)"
    }

    /// The `docker save` layout of one image: `manifest.json`,
    /// `repositories`, the config as `<hex>.json` and each layer, still
    /// compressed, as `<hex>.tar.gz` (`.tar.zst`, `.tar`).
    ///
    /// - Parameters:
    ///   - config: the image config blob.
    ///   - layers: the layers in manifest order; a repeated layer is stored once.
    ///   - repoTags: names the image gets when loaded (`name:tag`), may be empty.
    public static func dockerArchive(config: Descriptor, layers: [Descriptor], repoTags: [String]) throws -> TarLayout {
        let configName = "\(config.digest.hex).json"
        var layerNames: [String] = []
        var uniqueLayers: [(String, Descriptor)] = []
        for layer in layers {
            let name = dockerArchiveLayerName(layer)
            layerNames.append(name)
            if !uniqueLayers.contains(where: { $0.0 == name }) { uniqueLayers.append((name, layer)) }
        }
        let manifest = [DockerArchiveManifestEntry(Config: configName, RepoTags: repoTags, Layers: layerNames)]
        let manifestBytes = Array(try JSONDocument.compactBytes(of: manifest))
        var repositories: [String: [String: String]] = [:]
        if let top = layers.last {
            for repoTag in repoTags {
                guard let colon = repoTag.lastIndex(of: ":"), !repoTag[colon...].contains("/") else { continue }
                repositories[String(repoTag[..<colon]), default: [:]][String(repoTag[repoTag.index(after: colon)...])] = top.digest.hex
            }
        }
        let repositoriesBytes = Array(try JSONDocument.compactBytes(of: repositories))
        return try TarLayout(
            [("manifest.json", .inline(manifestBytes)), ("repositories", .inline(repositoriesBytes)), (configName, .blob(config))]
                + uniqueLayers.map { ($0.0, .blob($0.1)) })
    }

    /// An OCI image layout as one tar (an oci-archive): `oci-layout`,
    /// `index.json`, the manifest documents and every blob under
    /// `blobs/<alg>/<hex>`, each stored once — the layout `layout` writes
    /// as a directory, with the same digests.
    public static func ociArchive(_ layout: OCILayout, documents: [ManifestDocument], blobs: [Descriptor]) throws -> TarLayout {
        let unique = OCILayout.uniqueBlobs(blobs).filter { blob in !documents.contains { $0.digest == blob.digest } }
        var files: [(name: String, content: Entry.Content)] = [
            ("oci-layout", .inline(OCILayout.layoutFileBytes)), ("index.json", .inline(try layout.indexBytes())), ("blobs/", .directory),
        ]
        let algorithms = Set(documents.map(\.digest.algorithm.rawValue) + unique.map(\.digest.algorithm.rawValue)).sorted()
        files += algorithms.map { ("blobs/\($0)/", .directory) }
        files += documents.map { (OCILayout.blobPath($0.digest), .inline(Array($0.bytes))) }
        files += unique.map { (OCILayout.blobPath($0.digest), .blob($0)) }
        return try TarLayout(files)
    }

    /// The entries whose data is a blob to fetch.
    public var blobEntries: [(offset: Int64, blob: Descriptor)] {
        entries.compactMap { entry in
            if case .blob(let blob) = entry.content { return (entry.dataOffset, blob) }
            return nil
        }
    }

    /// Writes everything but the blobs' data into `file`: sizes it to
    /// `totalSize` (zero-filled, which supplies padding and the end blocks),
    /// then writes every header and the inline entries.
    public func writeSkeleton(to file: FileDescriptor) throws {
        try file.resize(to: totalSize)
        for entry in entries {
            _ = try entry.header.bytes.withUnsafeBytes { try file.writeAll(toAbsoluteOffset: entry.headerOffset, $0) }
            if case .inline(let bytes) = entry.content {
                _ = try bytes.withUnsafeBytes { try file.writeAll(toAbsoluteOffset: entry.dataOffset, $0) }
            }
        }
    }
}

/// One element of `manifest.json`, with docker's capitalised keys.
struct DockerArchiveManifestEntry: Codable {
    var Config: String
    var RepoTags: [String]
    var Layers: [String]
}

extension FileDescriptor {
    /// Sets the file's size, zero-filling any growth.
    func resize(to size: Int64) throws {
        let result = ftruncate(rawValue, off_t(size))
        if result != 0 { throw Errno(rawValue: errno) }
    }
}
