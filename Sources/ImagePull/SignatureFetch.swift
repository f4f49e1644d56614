#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import ImageTrust
import RegistryClient

/// A signature store that cannot be read as registries.d says.
public struct SignatureStoreError: UserFacingError, Equatable {
    /// The store's URL or file.
    public var location: String
    public var reason: String
    /// Which registries.d entry named it (`docker["…"] in FILE`).
    public var origin: String

    public var message: String { "cannot read the signatures at \(location) (\(origin)): \(reason)" }

    public var hints: [String] {
        ["registries.d (containers-registries.d(5)) says where each registry's signatures are; --registries.d DIR names another directory"]
    }
}

/// Collects the signatures of one image's manifests from where
/// registries.d says they are: the lookaside (`…/signature-1, -2, …` until
/// the first that does not exist, over http(s) through the session or from
/// `file://`), and, when `use-sigstore-attachments` is on, the cosign
/// signature manifests of the `sha256-<hex>.sig` tag and of the referrers
/// of type ``cosignArtifactType``.
struct SignatureFetch: Sendable {
    let session: PullSession
    /// The client of the source that served the image (a mirror, or the registry).
    let client: RegistryClient
    /// The image as that source names it.
    let source: ImageReference
    /// The image as the user named it: the lookaside's path is its repository.
    let image: ImageReference
    let sources: SignatureSources

    /// The artifact type of a cosign signature manifest found as a referrer.
    static let cosignArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
    /// The most signatures read from one lookaside for one manifest.
    static let maxLookasideSignatures = 256

    /// Every signature of the manifest `digest`, and a description of each place looked at.
    func signatures(for digest: Digest, sigstore: Bool) async throws -> (evidence: [SignatureEvidence], searched: [String]) {
        var (evidence, searched) = try await lookaside(for: digest)
        if sources.useSigstoreAttachments {
            let (attached, places) = try await attachments(for: digest)
            evidence += attached
            searched += places
        } else if sigstore {
            searched.append("no sigstore attachments (use-sigstore-attachments is not true in registries.d for \(image.registry)/\(image.repository))")
        }
        return (evidence, searched)
    }

    // MARK: The lookaside

    private func lookaside(for digest: Digest) async throws -> ([SignatureEvidence], [String]) {
        var found: [SignatureEvidence] = []
        let first = sources.lookasideURL(image: image, manifestDigest: digest, index: 1)
        for index in 1...Self.maxLookasideSignatures + 1 {
            let url = sources.lookasideURL(image: image, manifestDigest: digest, index: index)
            guard index <= Self.maxLookasideSignatures else {
                throw SignatureStoreError(location: url, reason: "more than \(Self.maxLookasideSignatures) signatures; not read on", origin: sources.lookasideOrigin)
            }
            guard let bytes = try await lookasideFile(url) else { break }
            found.append(SignatureEvidence(location: .lookaside(url), lookasideBlob: Array(bytes)))
        }
        let place = found.isEmpty ? "\(first) (none there" : "\(first) to signature-\(found.count) (\(found.count) there"
        return (found, ["\(place); lookaside of \(sources.lookasideOrigin))"])
    }

    /// One lookaside file, nil when there is none.
    private func lookasideFile(_ url: String) async throws -> Data? {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        switch scheme {
        case "file":
            guard let path = URL(string: url)?.path, !path.isEmpty else {
                throw SignatureStoreError(location: url, reason: "not a file URL", origin: sources.lookasideOrigin)
            }
            // A signature that is not there ends the numbering; one that cannot be read is an error.
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            do {
                return try LocalFile.read(path, limit: RegistryClient.maxSignatureBytes)
            } catch {
                throw SignatureStoreError(location: path, reason: error.reason, origin: sources.lookasideOrigin)
            }
        case "http", "https":
            guard let endpoint = Self.endpoint(of: url) else {
                throw SignatureStoreError(location: url, reason: "not a URL with a host", origin: sources.lookasideOrigin)
            }
            return try await session.client(for: endpoint, credentials: .authFilesOnly).fetchSignatureStoreFile(url)
        default:
            throw SignatureStoreError(location: url, reason: "only http, https and file URLs are read", origin: sources.lookasideOrigin)
        }
    }

    /// The origin of an http(s) URL as an endpoint: the client the session keeps for it.
    static func endpoint(of url: String) -> RegistryEndpoint? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty else {
            return nil
        }
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return RegistryEndpoint(scheme: scheme, host: components.port.map { "\(shown):\($0)" } ?? shown)
    }

    // MARK: Sigstore attachments

    private func attachments(for digest: Digest) async throws -> ([SignatureEvidence], [String]) {
        var tagged = source
        tagged.digest = nil
        tagged.tag = SigstoreSignature.attachmentTag(for: digest)
        var found: [SignatureEvidence] = []
        var searched: [String] = []
        if let document = try await client.fetchManifestIfPresent(tagged) {
            found += try await layers(of: document, location: SignatureLocation.attachment)
        }
        searched.append("\(client.endpoint.name)/\(tagged.repositoryReference) (\(found.count) signature\(found.count == 1 ? "" : "s"))")
        let referrers = try await client.referrers(of: digest, in: source, artifactType: Self.cosignArtifactType)
        var fromReferrers = 0
        for referrer in referrers.referrers {
            var named = source
            named.tag = nil
            named.digest = referrer.digest
            // A signature layer found under the tag and as a referrer is one signature, read once.
            let new = try await layers(of: try await client.fetchManifest(named), location: SignatureLocation.referrer, skipping: Set(found.compactMap(\.location.digest)))
            fromReferrers += new.count
            found += new
        }
        searched.append("referrers of \(digest) (\(referrers.source == .api ? "referrers API" : "sha256-<hex> tag"); \(fromReferrers) signature\(fromReferrers == 1 ? "" : "s"))")
        return (found, searched)
    }

    /// The layers of a cosign signature manifest, each a signature to evaluate.
    private func layers(
        of document: ManifestDocument, location: (Digest) -> SignatureLocation, skipping known: Set<Digest> = []
    ) async throws -> [SignatureEvidence] {
        guard let manifest = document.imageManifest else {
            return [SignatureEvidence(
                location: location(document.digest),
                content: .unreadable(.unrecognizedBlob("a sigstore signature manifest is an image manifest, not an index")))]
        }
        var evidence: [SignatureEvidence] = []
        for layer in manifest.layers where !known.contains(layer.digest) {
            let payload = try await client.fetchBlobBytes(layer, of: source, limit: RegistryClient.maxSignatureBytes)
            let signature = SigstoreSignature(mediaType: layer.mediaType, payload: Array(payload), annotations: layer.annotations ?? [:])
            evidence.append(SignatureEvidence(location: location(layer.digest), content: .sigstore(signature)))
        }
        return evidence
    }
}
