#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// A manifest document as it was served or stored: the exact bytes, their
/// digest, its media type and what it parses to (an image manifest or an
/// index). The bytes are kept because the digest is over them, not over any
/// re-encoding.
public struct ManifestDocument: Sendable, Hashable {
    public enum Content: Sendable, Hashable {
        case image(ImageManifest)
        case index(ImageIndex)
    }

    /// The bytes as served; their SHA-256 is `digest`.
    public let bytes: Data
    /// The SHA-256 of `bytes`.
    public let digest: Digest
    /// The media type, from the document's own `mediaType`, else the
    /// response's `Content-Type`, else the document's shape.
    public let mediaType: String
    public let content: Content

    /// Parses and validates manifest bytes.
    ///
    /// - Parameters:
    ///   - contentType: the response's `Content-Type`, used when the document
    ///     has no `mediaType` of its own.
    ///   - digest: the SHA-256 of `bytes` when the caller has it already.
    public init(bytes: Data, contentType: String?, digest: Digest? = nil) throws(ImageSpecError) {
        self.bytes = bytes
        self.digest = digest ?? DigestHasher.digest(of: bytes)
        let probe: ManifestProbe
        do {
            probe = try JSONDecoder().decode(ManifestProbe.self, from: bytes)
        } catch {
            throw .invalidManifest("the document is not a JSON manifest (\(DecodingProblem.describe(error)))")
        }
        let headerType = contentType.map { String($0.split(separator: ";").first ?? "").trimmingWhitespace() }
        if probe.schemaVersion == 1 || headerType.map(MediaType.isSchema1) == true {
            // Named as served: signed (`…v1+prettyjws`) or not (`…v1+json`).
            let type = [probe.mediaType, headerType].compactMap { $0 }.first(where: MediaType.isSchema1)
                ?? (probe.signatures != nil ? MediaType.dockerSchema1Signed : MediaType.dockerSchema1)
            throw .unsupportedManifest(type, reason: "Docker schema 1 manifests are deprecated; re-push the image with a current client")
        }
        guard probe.schemaVersion == 2 else {
            throw .invalidManifest("schemaVersion is \(probe.schemaVersion.map(String.init) ?? "missing"), expected 2")
        }
        mediaType = try Self.mediaType(declared: probe.mediaType, header: headerType, hasManifests: probe.manifests != nil, hasConfig: probe.config != nil)
        do {
            if MediaType.isIndex(mediaType) {
                let index = try JSONDecoder().decode(ImageIndex.self, from: bytes)
                try Self.validate(index.manifests, what: "manifest entry")
                content = .index(index)
            } else {
                let manifest = try JSONDecoder().decode(ImageManifest.self, from: bytes)
                try Self.validate([manifest.config], what: "config")
                try Self.validate(manifest.layers, what: "layer")
                content = .image(manifest)
            }
        } catch let error as ImageSpecError {
            throw error
        } catch {
            throw .invalidManifest(DecodingProblem.describe(error))
        }
    }

    /// What a document is, from what it says of itself first: its own
    /// `mediaType`; when it has none (OCI allows that), its shape — a
    /// `manifests` list is an index, a `config` an image manifest —
    /// whatever `Content-Type` claims (registries have served indexes as
    /// image manifests); `Content-Type` only when the shape says nothing.
    static func mediaType(declared: String?, header: String?, hasManifests: Bool, hasConfig: Bool) throws(ImageSpecError) -> String {
        if let declared {
            guard MediaType.isImageManifest(declared) || MediaType.isIndex(declared) else {
                throw .unsupportedManifest(declared.isEmpty ? "(none)" : declared, reason: "hocker reads Docker schema 2 and OCI manifests and indexes")
            }
            return declared
        }
        if hasManifests != hasConfig {
            let oci = hasManifests ? MediaType.ociIndex : MediaType.ociManifest
            // A Docker type in Content-Type of the same kind is kept: the bytes are the same either way.
            if let header, hasManifests ? MediaType.isIndex(header) : MediaType.isImageManifest(header) { return header }
            return oci
        }
        if let header, MediaType.isImageManifest(header) || MediaType.isIndex(header) { return header }
        throw .unsupportedManifest(header ?? "(none)", reason: "hocker reads Docker schema 2 and OCI manifests and indexes")
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

    /// The descriptor that names this document: its media type, digest and size.
    public var descriptor: Descriptor {
        Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    private static func validate(_ descriptors: [Descriptor], what: String) throws(ImageSpecError) {
        for descriptor in descriptors {
            guard descriptor.size >= 0 else {
                throw .invalidManifest("\(what) \(descriptor.digest) has a negative size (\(descriptor.size))")
            }
            guard !descriptor.mediaType.isEmpty, descriptor.mediaType.utf8.count <= 255 else {
                throw .invalidManifest("\(what) \(descriptor.digest) has no valid mediaType")
            }
        }
    }
}

/// A decoding error in a sentence that names the field, never the data (a
/// document's values may be secrets, or long).
public enum DecodingProblem {
    public static func describe(_ error: any Error) -> String {
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
    /// A schema 1 manifest's JWS signatures: present when it is signed.
    var signatures: IgnoredValue?
}

private struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
