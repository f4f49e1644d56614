import AsyncHTTPClient
import ImageReference
import ImageSpec
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The manifests that refer to one manifest through their `subject`: its
/// signatures, SBOMs, attestations (OCI 1.1 referrers).
public struct ReferrerList: Sendable, Hashable {
    /// How the registry was asked.
    public enum Source: String, Sendable, Hashable, Codable {
        /// `GET /v2/<name>/referrers/<digest>`, the OCI 1.1 referrers API.
        case api
        /// The `sha256-<hex>` tag of an index of the referrers, for registries
        /// without the API (distribution 2.8 and older).
        case tagSchema
    }

    /// The manifest referred to.
    public var subject: Digest
    /// One descriptor per referring manifest: its media type, digest, size,
    /// `artifactType` and annotations, in the registry's order.
    public var referrers: [Descriptor]
    public var source: Source

    public init(subject: Digest, referrers: [Descriptor], source: Source) {
        self.subject = subject
        self.referrers = referrers
        self.source = source
    }

    /// How many referrers there are of each artifact type (`(none)` for one without).
    public var countsByArtifactType: [String: Int] {
        referrers.reduce(into: [:]) { counts, referrer in counts[referrer.artifactType ?? "(none)", default: 0] += 1 }
    }
}

extension RegistryClient {
    /// The referrers of `subject` in `image`'s repository, of `artifactType`
    /// only when given.
    ///
    /// Asked through the referrers API (its `Link` pages followed on the
    /// registry's own origin); the filter is the registry's when it says so
    /// in `OCI-Filters-Applied`, else applied here. A registry that answers
    /// the API 404 has none, and the `sha256-<hex>` tag is read instead (no
    /// such tag: no referrers). A 404 of the API costs one more request on
    /// such registries; every other answer is an error.
    public func referrers(of subject: Digest, in image: ImageReference, artifactType: String? = nil) async throws -> ReferrerList {
        var found: [Descriptor] = []
        var next: String? = url(image.repository, "referrers", subject.description) + (artifactType.map { "?artifactType=" + Self.queryEncoded($0) } ?? "")
        var pages = 0
        while let current = next {
            pages += 1
            guard pages <= 1_000 else { throw RegistryError.redirectLoop(url: current) }
            guard let page = try await referrersPage(current, repository: image.repository) else {
                // The first page's 404 says there is no API; a later page's is the registry's own mistake.
                guard pages == 1 else { throw RegistryError.unexpectedStatus(404, url: current, detail: "a page of the referrers list is missing") }
                return try await referrersByTag(of: subject, in: image, artifactType: artifactType)
            }
            found += artifactType == nil || page.filtered ? page.descriptors : page.descriptors.filter { $0.artifactType == artifactType }
            // Judged from the origin that answered: plain http, if the endpoint fell back to it.
            let answered = rebased(current)
            next = try page.link.flatMap(Self.nextPage).map { target throws(RegistryError) in
                try gate.admit(target, relativeTo: answered, as: .nextPage(from: answered))
            }
        }
        return ReferrerList(subject: subject, referrers: found, source: .api)
    }

    /// One page of the referrers API; nil when it answered 404.
    private func referrersPage(_ url: String, repository: String) async throws -> (descriptors: [Descriptor], filtered: Bool, link: String?)? {
        var request = RegistryRequest(.GET, url, authentication: .registry(repository: repository))
        request.headers.add(name: "Accept", value: MediaType.ociIndex)
        let limit = configuration.maxManifestBytes
        var retry = makeRetryBudget()
        let answer: (ByteBuffer, HTTPHeaders)? = try await send(request, retry: &retry) { response in
            if response.status == .notFound {
                await discardBody(response)
                return nil
            }
            guard response.status == .ok else {
                throw await failure(response, url: url, repository: repository) { _ in
                    .repositoryUnknown(repository: repository, registry: self.endpoint.host)
                }
            }
            return (try await collect(response, upTo: limit, what: "referrers list"), response.headers)
        }
        guard let (body, headers) = answer else { return nil }
        let index: ImageIndex
        do {
            index = try JSONDecoder().decode(ImageIndex.self, from: Data(body.readableBytesView))
        } catch {
            throw RegistryError.unexpectedStatus(200, url: url, detail: "the referrers list is not an OCI index (\(DecodingProblem.describe(error)))")
        }
        // Said as a comma-separated list of the filters the registry applied.
        let filtered = headers[canonicalForm: "OCI-Filters-Applied"].contains { $0.filter { $0 != " " && $0 != "\t" } == "artifactType" }
        return (index.manifests, filtered, headers.first(name: "Link"))
    }

    /// The referrers the `sha256-<hex>` tag lists, filtered here.
    private func referrersByTag(of subject: Digest, in image: ImageReference, artifactType: String?) async throws -> ReferrerList {
        var tagged = image
        tagged.digest = nil
        tagged.tag = "\(subject.algorithm.rawValue)-\(subject.hex)"
        guard let document = try await fetchManifestIfPresent(tagged) else {
            return ReferrerList(subject: subject, referrers: [], source: .tagSchema)
        }
        guard let index = document.index else {
            throw RegistryError.unexpectedStatus(
                200, url: url(image.repository, "manifests", tagged.reference), detail: "the referrers tag names an image manifest, not an index")
        }
        let referrers = index.manifests.filter { artifactType == nil || $0.artifactType == artifactType }
        return ReferrerList(subject: subject, referrers: referrers, source: .tagSchema)
    }

    /// A query value with everything but unreserved characters and `/`
    /// percent-encoded (a media type's `+` would read as a space).
    static func queryEncoded(_ text: String) -> String {
        text.utf8.map { byte in
            let plain = (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) || "-._~/".utf8.contains(byte)
            if plain { return String(UnicodeScalar(byte)) }
            let hex = String(byte, radix: 16, uppercase: true)
            return "%" + (hex.count == 1 ? "0" + hex : hex)
        }.joined()
    }
}
