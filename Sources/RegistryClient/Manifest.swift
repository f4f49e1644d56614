import Foundation
import ImageReference

/// A content descriptor: what a manifest says of a blob or of another manifest.
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    /// Size in bytes.
    public var size: Int64
    public var platform: PlatformDescriptor?
    public var urls: [String]?
    public var annotations: [String: String]?

    public init(mediaType: String, digest: Digest, size: Int64, platform: PlatformDescriptor? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
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

/// An image manifest: Docker schema 2 or OCI.
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?
}

/// An index: an OCI image index or a Docker manifest list.
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    /// The platforms of the image manifests the index lists, in its order.
    /// Attestation entries (`unknown/unknown`) are left out.
    public var platforms: [Platform] {
        manifests.compactMap { entry in
            guard let platform = entry.platform?.platform, platform.os != "unknown" else { return nil }
            return platform
        }
    }

    /// The entry for `platform`, matched as docker matches.
    public func entry(for platform: Platform) -> Descriptor? {
        manifests.first { entry in
            guard let candidate = entry.platform?.platform else { return false }
            return platform.matches(candidate)
        }
    }

    /// The entries `selection` picks, in the order asked (an entry matched
    /// twice is listed once); for `.all`, every image entry in the index's order.
    ///
    /// - Parameter reference: names the image in the error for a missing platform.
    /// - Throws: `RegistryError.noMatchingPlatform` listing the platforms the
    ///   index has, or `.invalidManifest` when `.all` finds no image entry.
    public func entries(for selection: PlatformSelection, reference: String) throws(RegistryError) -> [Descriptor] {
        switch selection {
        case .all:
            let images = manifests.filter { entry in entry.platform.map { $0.os != "unknown" } ?? false }
            guard !images.isEmpty else { throw .invalidManifest("the index lists no image with a platform") }
            return images
        case .platforms(let wanted):
            var chosen: [Descriptor] = []
            for platform in wanted {
                guard let entry = entry(for: platform) else {
                    throw .noMatchingPlatform(requested: platform, available: platforms, reference: reference)
                }
                if !chosen.contains(entry) { chosen.append(entry) }
            }
            return chosen
        }
    }
}

/// Which images of an index to take.
public enum PlatformSelection: Hashable, Sendable {
    /// These platforms, in this order.
    case platforms([Platform])
    /// Every image entry (attestations, `unknown/unknown`, left out).
    case all
}

/// A manifest as the registry served it: the exact bytes, their digest and
/// what they parse to.
public struct FetchedManifest: Sendable {
    public enum Content: Sendable {
        case image(ImageManifest)
        case index(ImageIndex)
    }

    /// The bytes the registry served; their SHA-256 is `digest`.
    public let bytes: Data
    /// The SHA-256 of `bytes`.
    public let digest: Digest
    /// The media type, from the manifest's own `mediaType` or the response's `Content-Type`.
    public let mediaType: String
    public let content: Content

    /// Parses and validates manifest bytes. `contentType` is the response's
    /// `Content-Type`, used when the document has no `mediaType` of its own;
    /// `digest`, the SHA-256 of `bytes` when the caller has it already.
    public init(bytes: Data, contentType: String?, digest: Digest? = nil) throws(RegistryError) {
        self.bytes = bytes
        self.digest = digest ?? BlobHasher.digest(of: bytes, algorithm: .sha256)
        let probe: ManifestProbe
        do {
            probe = try JSONDecoder().decode(ManifestProbe.self, from: bytes)
        } catch {
            throw .invalidManifest("the document is not a JSON manifest (\(Self.describe(error)))")
        }
        let headerType = contentType.map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) }
        if probe.schemaVersion == 1 || headerType.map(MediaType.isSchema1) == true {
            throw .unsupportedManifest(MediaType.dockerSchema1, reason: "Docker schema 1 manifests are deprecated; re-push the image with a current client")
        }
        guard probe.schemaVersion == 2 else {
            throw .invalidManifest("schemaVersion is \(probe.schemaVersion.map(String.init) ?? "missing"), expected 2")
        }
        var type = probe.mediaType ?? headerType ?? ""
        if !MediaType.isImageManifest(type) && !MediaType.isIndex(type) {
            // OCI lets mediaType be omitted; fall back on the document's shape.
            if probe.mediaType == nil, probe.manifests != nil {
                type = MediaType.ociIndex
            } else if probe.mediaType == nil, probe.config != nil {
                type = MediaType.ociManifest
            } else {
                throw .unsupportedManifest(type.isEmpty ? "(none)" : type, reason: "hocker reads Docker schema 2 and OCI manifests and indexes")
            }
        }
        mediaType = type
        do {
            if MediaType.isIndex(type) {
                let index = try JSONDecoder().decode(ImageIndex.self, from: bytes)
                try Self.validate(index.manifests, what: "manifest entry")
                content = .index(index)
            } else {
                let manifest = try JSONDecoder().decode(ImageManifest.self, from: bytes)
                try Self.validate([manifest.config], what: "config")
                try Self.validate(manifest.layers, what: "layer")
                content = .image(manifest)
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .invalidManifest(Self.describe(error))
        }
    }

    /// The image manifest, or nil for an index.
    public var imageManifest: ImageManifest? {
        if case .image(let manifest) = content { return manifest }
        return nil
    }

    /// The index, or nil for an image manifest.
    public var index: ImageIndex? {
        if case .index(let index) = content { return index }
        return nil
    }

    private static func validate(_ descriptors: [Descriptor], what: String) throws(RegistryError) {
        for descriptor in descriptors {
            guard descriptor.size >= 0 else {
                throw .invalidManifest("\(what) \(descriptor.digest) has a negative size (\(descriptor.size))")
            }
            guard !descriptor.mediaType.isEmpty, descriptor.mediaType.utf8.count <= 255 else {
                throw .invalidManifest("\(what) \(descriptor.digest) has no valid mediaType")
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? context.debugDescription : "\(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

/// The fields that tell what kind of manifest a document is.
private struct ManifestProbe: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [IgnoredValue]?
    var config: IgnoredValue?
}

private struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
