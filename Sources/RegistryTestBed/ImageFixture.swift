import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One blob or manifest of an ``ImageFixture``: its bytes, digest and media type.
public struct FixtureBlob: Sendable, Hashable {
    public var bytes: Data
    /// `sha256:<hex>` of ``bytes``.
    public var digest: String
    public var mediaType: String
    public var size: Int { bytes.count }

    public init(_ bytes: Data, mediaType: String) {
        self.bytes = bytes
        self.mediaType = mediaType
        digest = sha256Digest(bytes)
    }
}

/// One platform's image of an ``ImageFixture``.
public struct FixtureManifest: Sendable {
    /// The platform its index entry and config name.
    public var platform: TestPlatform
    /// The image manifest.
    public var manifest: FixtureBlob
    public var config: FixtureBlob
    /// The layers, bottom first.
    public var layers: [FixtureBlob]
    /// `sha256:<hex>` of each layer's uncompressed tar, as the config's `rootfs.diff_ids`.
    public var diffIDs: [String]
}

/// An image built in memory, with no tool and no file: layers that are real
/// tars (gzip-wrapped, uncompressed, for the gzip media types), configs,
/// manifests, and an index when there are several platforms.
public struct ImageFixture: Sendable {
    /// One per platform, in the order asked for.
    public var manifests: [FixtureManifest]
    /// The index over ``manifests``, when there is one.
    public var index: FixtureBlob?

    /// What a tag of the image names: the index, else the single manifest.
    public var top: FixtureBlob { index ?? manifests[0].manifest }
    /// The only (or first) platform's image.
    public var single: FixtureManifest { manifests[0] }
    /// Every config and layer, each once.
    public var blobs: [FixtureBlob] {
        var seen: Set<String> = []
        return manifests.flatMap { [$0.config] + $0.layers }.filter { seen.insert($0.digest).inserted }
    }
    /// Every manifest, the index last.
    public var documents: [FixtureBlob] { manifests.map(\.manifest) + (index.map { [$0] } ?? []) }

    /// The manifest for `platform`, if the image has it.
    public func manifest(for platform: TestPlatform) -> FixtureManifest? {
        manifests.first { $0.platform == platform }
    }
}

/// The media types an ``ImageFixture`` is written in.
public enum FixtureFormat: Sendable, Hashable {
    /// OCI manifests, configs and index.
    case oci
    /// Docker schema 2 manifests and manifest list.
    case docker

    var manifest: String { self == .oci ? TestMediaTypes.ociManifest : TestMediaTypes.dockerManifest }
    var index: String { self == .oci ? TestMediaTypes.ociIndex : TestMediaTypes.dockerManifestList }
    var config: String { self == .oci ? TestMediaTypes.ociConfig : TestMediaTypes.dockerConfig }
    var layer: String { self == .oci ? TestMediaTypes.ociLayerGzip : TestMediaTypes.dockerLayerGzip }
}

extension ImageFixture {
    /// Builds an image whose layers hold `layerSizes` bytes each of
    /// deterministic pseudo-random content: the same arguments always give
    /// the same digests.
    ///
    /// - Parameters:
    ///   - seed: mixed into every layer's content, so two images differ.
    ///   - platforms: one gives a plain manifest (unless `forceIndex`), several an index.
    ///   - layerSizes: bytes of file content per layer, bottom first.
    ///   - labels: the config's `config.Labels` (any text, escapes included).
    public static func build(
        seed: String = "image", platforms: [TestPlatform] = [.linuxAMD64], layerSizes: [Int] = [1024], labels: [String: String] = [:],
        format: FixtureFormat = .oci, forceIndex: Bool = false
    ) -> ImageFixture {
        let manifests = platforms.map { platform in
            let tars = layerSizes.enumerated().map { number, size in
                TarFile.single(name: "layer-\(number)/data.bin", contents: pseudoRandomBytes(count: size, seed: "\(seed)/\(platform)/\(number)"))
            }
            let layers = tars.map { FixtureBlob(Gzip.stored($0), mediaType: format.layer) }
            let diffIDs = tars.map(sha256Digest)
            let config = FixtureBlob(
                encodeJSON(ConfigJSON(platform: platform, diffIDs: diffIDs, labels: labels)), mediaType: format.config)
            let manifest = FixtureBlob(
                encodeJSON(ManifestJSON(mediaType: format.manifest, config: .init(config), layers: layers.map { .init($0) })),
                mediaType: format.manifest)
            return FixtureManifest(platform: platform, manifest: manifest, config: config, layers: layers, diffIDs: diffIDs)
        }
        var index: FixtureBlob?
        if manifests.count > 1 || forceIndex {
            let entries = manifests.map { DescriptorJSON($0.manifest, platform: $0.platform) }
            index = FixtureBlob(encodeJSON(IndexJSON(mediaType: format.index, manifests: entries)), mediaType: format.index)
        }
        return ImageFixture(manifests: manifests, index: index)
    }

    /// An OCI artifact manifest that refers to `subject` (a signature, an
    /// SBOM): the empty config, `blobs` as its layers, and `artifactType`.
    public static func artifact(
        subject: FixtureBlob, artifactType: String, blobs: [FixtureBlob], annotations: [String: String]? = nil
    ) -> (manifest: FixtureBlob, blobs: [FixtureBlob]) {
        let empty = FixtureBlob(Data("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json")
        let document = ManifestJSON(
            mediaType: TestMediaTypes.ociManifest, artifactType: artifactType, config: .init(empty), layers: blobs.map { .init($0) },
            subject: .init(subject), annotations: annotations)
        return (FixtureBlob(encodeJSON(document), mediaType: TestMediaTypes.ociManifest), [empty] + blobs)
    }

    /// The index that lists `artifacts` as referrers (each with the
    /// `artifactType` and annotations its manifest has): what the referrers
    /// API answers, and what the `sha256-<hex>` tag names on a registry
    /// without that API.
    public static func referrersIndex(_ artifacts: [FixtureBlob]) -> FixtureBlob {
        let descriptors = artifacts.map { artifact in
            let fields = try? JSONDecoder().decode(ManifestJSON.self, from: artifact.bytes)
            return DescriptorJSON(
                mediaType: artifact.mediaType, digest: artifact.digest, size: artifact.size,
                artifactType: fields?.artifactType ?? fields?.config.mediaType, annotations: fields?.annotations)
        }
        return FixtureBlob(encodeJSON(IndexJSON(mediaType: TestMediaTypes.ociIndex, manifests: descriptors)), mediaType: TestMediaTypes.ociIndex)
    }

    /// An index over `manifests` as given (platforms and all), for indexes
    /// no image would have: escapes in platform fields, nested indexes.
    public static func index(_ entries: [(FixtureBlob, TestPlatform?)], format: FixtureFormat = .oci) -> FixtureBlob {
        let descriptors = entries.map { DescriptorJSON($0.0, platform: $0.1) }
        return FixtureBlob(encodeJSON(IndexJSON(mediaType: format.index, manifests: descriptors)), mediaType: format.index)
    }
}

// MARK: Documents

struct DescriptorJSON: Codable, Sendable {
    struct PlatformJSON: Codable, Sendable {
        var architecture: String
        var os: String
        var variant: String?
    }

    var mediaType: String
    var digest: String
    var size: Int
    var platform: PlatformJSON?
    var artifactType: String?
    var annotations: [String: String]?

    init(_ blob: FixtureBlob, platform: TestPlatform? = nil) {
        mediaType = blob.mediaType
        digest = blob.digest
        size = blob.size
        self.platform = platform.map { PlatformJSON(architecture: $0.architecture, os: $0.os, variant: $0.variant) }
    }

    init(mediaType: String, digest: String, size: Int, artifactType: String?, annotations: [String: String]?) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }
}

struct ManifestJSON: Codable, Sendable {
    var schemaVersion = 2
    var mediaType: String
    var artifactType: String?
    var config: DescriptorJSON
    var layers: [DescriptorJSON]
    var subject: DescriptorJSON?
    var annotations: [String: String]?
}

struct IndexJSON: Codable, Sendable {
    var schemaVersion = 2
    var mediaType: String
    var manifests: [DescriptorJSON]
}

private struct ConfigJSON: Encodable {
    struct Run: Encodable {
        var Cmd = ["/bin/sh"]
        var Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        var Labels: [String: String]?
    }

    struct RootFS: Encodable {
        var type = "layers"
        var diff_ids: [String]
    }

    var architecture: String
    var os: String
    var variant: String?
    var created = "1970-01-01T00:00:00Z"
    var config: Run
    var rootfs: RootFS

    init(platform: TestPlatform, diffIDs: [String], labels: [String: String]) {
        architecture = platform.architecture
        os = platform.os
        variant = platform.variant
        config = Run(Labels: labels.isEmpty ? nil : labels)
        rootfs = RootFS(diff_ids: diffIDs)
    }
}

/// Compact JSON with sorted keys: the same value, the same bytes.
func encodeJSON(_ value: some Encodable) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Only the documents above are encoded: strings, numbers, arrays and maps, which cannot fail.
    return (try? encoder.encode(value)) ?? Data()
}

// MARK: Bytes

/// `count` bytes determined by `seed`: SHA-256 of the seed and a counter, block after block.
public func pseudoRandomBytes(count: Int, seed: String) -> Data {
    var bytes = Data(capacity: count)
    var counter: UInt64 = 0
    while bytes.count < count {
        var hasher = SHA256()
        hasher.update(data: Data(seed.utf8))
        withUnsafeBytes(of: counter.bigEndian) { hasher.update(bufferPointer: $0) }
        bytes.append(contentsOf: hasher.finalize().prefix(count - bytes.count))
        counter += 1
    }
    return bytes
}

/// A tar of regular files, made in memory (ustar headers, owner 0, mtime 0).
enum TarFile {
    static func single(name: String, contents: Data) -> Data {
        var tar = header(name: name, size: contents.count)
        tar.append(contents)
        tar.append(Data(count: (512 - contents.count % 512) % 512))
        tar.append(Data(count: 1024))
        return tar
    }

    private static func header(name: String, size: Int) -> Data {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (index, byte) in text.utf8.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        put(String(name.prefix(100)), at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put("0", at: 156)
        put("ustar", at: 257)
        put("00", at: 263)
        // The checksum is summed with its own field as eight spaces.
        put("        ", at: 148)
        let sum = block.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + "\0 ", at: 148)
        return Data(block)
    }
}

/// gzip of stored (uncompressed) deflate blocks: a valid `.tar.gz` with no
/// compressor, whose bytes are as random as its content.
enum Gzip {
    static func stored(_ data: Data) -> Data {
        var out = Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])
        var offset = 0
        repeat {
            let length = min(65535, data.count - offset)
            let last: UInt8 = offset + length == data.count ? 1 : 0
            out.append(last)
            out.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)])
            out.append(data[data.startIndex + offset..<data.startIndex + offset + length])
            offset += length
        } while offset < data.count
        for value in [crc32(data), UInt32(truncatingIfNeeded: data.count)] {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }

    private static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func crc32(_ data: Data) -> UInt32 {
        ~data.reduce(~UInt32(0)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
    }
}
