import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import NIOCore
import NIOHTTP1

/// An image reference resolved to an image manifest.
public struct ResolvedImage: Sendable {
    /// The index the reference named, when it named one.
    public var index: ManifestDocument?
    /// The image manifest document for the platform.
    public var document: ManifestDocument
    /// What `document` parses to.
    public var manifest: ImageManifest
    /// The platform the index listed it under, when it came from an index.
    public var platform: Platform?

    public init(index: ManifestDocument?, document: ManifestDocument, manifest: ImageManifest, platform: Platform?) {
        self.index = index
        self.document = document
        self.manifest = manifest
        self.platform = platform
    }
}

/// What a `HEAD` of a manifest told: the digest of the document a `GET`
/// would return, its media type and size.
public struct ManifestHead: Sendable, Hashable {
    public var digest: Digest
    /// From `Content-Type`, without parameters; nil when not sent.
    public var mediaType: String?
    /// Bytes, from `Content-Length`; nil when not sent.
    public var size: Int64?
    /// Whether the registry gave no digest on `HEAD`, so the manifest was fetched with `GET` and hashed.
    public var fetched: Bool

    public init(digest: Digest, mediaType: String?, size: Int64?, fetched: Bool) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.fetched = fetched
    }
}

/// Images resolved from one reference: the index, if it named one, and an
/// image manifest for each platform picked from it.
public struct ResolvedImages: Sendable {
    /// The index the reference named, when it named one.
    public var index: ManifestDocument?
    /// One per platform picked, in the order of the selection; the single
    /// image when the reference named an image manifest.
    public var images: [ResolvedImage]
}

extension RegistryClient {
    /// Fetches the manifest `image` names (its digest, else its tag),
    /// keeping the exact bytes. Its digest is always that of the bytes: a
    /// pinned digest must match them; for a tag, `Docker-Content-Digest` is
    /// only compared (registries omit it, send bare hex, or the digest of
    /// another encoding of the manifest), and a difference is logged.
    public func fetchManifest(_ image: ImageReference) async throws -> ManifestDocument {
        // A 404 is thrown here, not answered with nil.
        guard let document = try await fetchManifest(image, absentIsNil: false) else {
            throw RegistryError.manifestUnknown(image: image.repositoryReference, registry: endpoint.host)
        }
        return document
    }

    /// The manifest `image` names, as ``fetchManifest(_:)`` fetches it, or
    /// nil when the registry answers 404: for look-ups where absence is an
    /// answer (a signature tag, the referrers tag of a registry without the
    /// referrers API). The repository is not asked about.
    public func fetchManifestIfPresent(_ image: ImageReference) async throws -> ManifestDocument? {
        try await fetchManifest(image, absentIsNil: true)
    }

    private func fetchManifest(_ image: ImageReference, absentIsNil: Bool) async throws -> ManifestDocument? {
        let url = url(image.repository, "manifests", image.reference)
        let limit = configuration.maxManifestBytes
        var request = RegistryRequest(.GET, url, authentication: .registry(repository: image.repository))
        request.headers.add(name: "Accept", value: MediaType.acceptAnyManifest)
        var retry = makeRetryBudget()
        let answer: (ByteBuffer, HTTPHeaders)? = try await send(request, retry: &retry) { response in
            if absentIsNil, response.status == .notFound {
                await discardBody(response)
                return nil
            }
            guard response.status == .ok else { throw await manifestFailure(response, url: url, image: image) }
            return (try await collect(response, upTo: limit, what: "manifest"), response.headers)
        }
        guard let (body, headers) = answer else { return nil }
        let bytes = Data(body.readableBytesView)
        let actual = DigestHasher.digest(of: bytes)
        if let pinned = image.digest {
            try Self.verify(bytes, sha256: actual, against: pinned, what: "manifest \(image.repository)@\(pinned)")
        } else if let header = headers.first(name: "Docker-Content-Digest") {
            let served = Self.servedDigest(header)
            if served != actual {
                logger.debug(
                    "Docker-Content-Digest differs from the manifest's bytes; using the bytes' digest",
                    metadata: ["image": "\(image.repositoryReference)", "header": "\(header)", "bytes": "\(actual)"])
            }
        }
        do {
            return try ManifestDocument(bytes: bytes, contentType: headers.first(name: "Content-Type"), digest: actual)
        } catch let error {
            guard case .unsupportedManifest(let type, _) = error, MediaType.isSchema1(type) else { throw error }
            throw ImageSpecError.schema1(image: "\(endpoint.host)/\(image.repositoryReference)", mediaType: type)
        }
    }

    /// A `Docker-Content-Digest` value as a digest: `ALGORITHM:HEX`, or
    /// bare hex (some registries send it so), taken as SHA-256; nil when
    /// it is neither.
    static func servedDigest(_ header: String) -> Digest? {
        let value: String = header.trimmingWhitespace()
        if let digest = try? Digest(parsing: value) { return digest }
        guard !value.contains(":") else { return nil }
        let prefixed: String = "sha256:" + value.lowercased()
        return try? Digest(parsing: prefixed)
    }

    /// The digest of the manifest `image` names, from one `HEAD` (its
    /// `Docker-Content-Digest`), as docker and Renovate ask: nothing is
    /// downloaded. A registry that sends no digest on `HEAD` (or answers it
    /// 400, 405 or 501) is asked with a `GET` instead, and the bytes hashed.
    ///
    /// The `Accept` header is the one ``fetchManifest(_:)`` sends, so the
    /// digest is that of the document a `GET` would return (an index, when
    /// the tag names one).
    public func manifestDigest(_ image: ImageReference) async throws -> ManifestHead {
        let url = url(image.repository, "manifests", image.reference)
        var request = RegistryRequest(.HEAD, url, authentication: .registry(repository: image.repository))
        request.headers.add(name: "Accept", value: MediaType.acceptAnyManifest)
        var retry = makeRetryBudget()
        let head: ManifestHead? = try await send(request, retry: &retry) { response in
            // A front that does not do HEAD at all gets the GET. So does a 400: an answer to HEAD has no body to
            // say why (a TLS server answering plain http says so only in its body), and the GET's error names it.
            if response.status == .methodNotAllowed || response.status == .notImplemented || response.status == .badRequest { return nil }
            guard response.status == .ok else { throw await manifestFailure(response, url: url, image: image) }
            guard let header = response.headers.first(name: "Docker-Content-Digest"), let digest = Self.servedDigest(header) else {
                return nil
            }
            let type = response.headers.first(name: "Content-Type").map { String($0.prefix { $0 != ";" }).trimmingWhitespace() }
            return ManifestHead(digest: digest, mediaType: type, size: response.headers.first(name: "Content-Length").flatMap(Int64.init), fetched: false)
        }
        if let head {
            if let pinned = image.digest, head.digest != pinned {
                throw RegistryError.digestMismatch(what: "manifest \(image.repository)@\(pinned) (its HEAD)", expected: pinned, actual: head.digest)
            }
            return head
        }
        let document = try await fetchManifest(image)
        return ManifestHead(digest: document.digest, mediaType: document.mediaType, size: Int64(document.bytes.count), fetched: true)
    }

    /// The error for a manifest request the registry did not answer with
    /// 200: an unknown tag, or an unknown repository (asked through the tag
    /// list when the registry does not say which).
    private func manifestFailure(_ response: HTTPClientResponse, url: String, image: ImageReference) async -> RegistryError {
        var error = await failure(response, url: url, repository: image.repository) { code in
            code == "NAME_UNKNOWN"
                ? .repositoryUnknown(repository: image.repository, registry: self.endpoint.host)
                : .manifestUnknown(image: image.repositoryReference, registry: self.endpoint.host)
        }
        if case .manifestUnknown = error, await !repositoryExists(image.repository) {
            error = .repositoryUnknown(repository: image.repository, registry: endpoint.host)
        }
        return error
    }

    /// Fetches `image` and, when it is an index, the one image manifest in
    /// it `choice` picks (``ImageIndex/select(_:image:)``): the error for a
    /// platform the index lacks lists the ones it has; an index whose only
    /// entry names no platform gives that entry (its `platform` nil). A
    /// single image manifest is returned as it is: what its config says of
    /// its platform is for the caller to check.
    public func resolveImage(_ image: ImageReference, platform choice: PlatformChoice) async throws -> ResolvedImage {
        let top = try await fetchManifest(image)
        switch top.content {
        case .image(let manifest):
            return ResolvedImage(index: nil, document: top, manifest: manifest, platform: nil)
        case .index(let index):
            let selection = try index.select(choice, image: "\(endpoint.host)/\(image.repositoryReference)")
            return try await resolveEntry(selection.entries[0], of: index, document: top, image: image)
        }
    }

    /// Fetches `image` and, when it is an index, the image manifest of every
    /// entry `choice` picks (none for an empty index asked for `.all`). An
    /// image manifest is returned as it is, whatever the choice: it says
    /// nothing of its platform.
    public func resolveImages(_ image: ImageReference, platforms choice: PlatformChoice) async throws -> ResolvedImages {
        let top = try await fetchManifest(image)
        switch top.content {
        case .image(let manifest):
            return ResolvedImages(index: nil, images: [ResolvedImage(index: nil, document: top, manifest: manifest, platform: nil)])
        case .index(let index):
            var images: [ResolvedImage] = []
            for entry in try index.select(choice, image: "\(endpoint.host)/\(image.repositoryReference)").entries {
                images.append(try await resolveEntry(entry, of: index, document: top, image: image))
            }
            return ResolvedImages(index: top, images: images)
        }
    }

    /// The image manifest an index entry names.
    private func resolveEntry(_ entry: Descriptor, of index: ImageIndex, document: ManifestDocument, image: ImageReference) async throws -> ResolvedImage {
        var child = image
        child.digest = entry.digest
        let childDocument = try await fetchManifest(child)
        guard let manifest = childDocument.imageManifest else {
            throw ImageSpecError.nestedIndex(image: "\(endpoint.host)/\(image.repositoryReference)", entry: entry.digest)
        }
        return ResolvedImage(index: document, document: childDocument, manifest: manifest, platform: entry.platform?.platform)
    }

    /// Checks `bytes` against `expected`; their SHA-256, already computed, is not computed again.
    static func verify(_ bytes: Data, sha256: Digest, against expected: Digest, what: String) throws(RegistryError) {
        let actual = expected.algorithm == sha256.algorithm ? sha256 : DigestHasher.digest(of: bytes, algorithm: expected.algorithm)
        guard actual == expected else { throw .digestMismatch(what: what, expected: expected, actual: actual) }
    }
}
