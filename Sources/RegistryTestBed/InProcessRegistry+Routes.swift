#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request path by the Distribution API's routes: the repository name and
/// the reference (tag or digest) it names, percent-decoded.
struct RegistryPath {
    var route: RegistryRoute
    var name = ""
    var reference = ""

    init(_ path: String) {
        func decoded(_ text: Substring) -> String { String(text).removingPercentEncoding ?? String(text) }
        if path == "/v2" || path == "/v2/" {
            route = .base
        } else if path == "/token" {
            route = .token
        } else if path.hasPrefix("/storage/") {
            route = .storage
            reference = decoded(path.dropFirst("/storage/".count))
        } else if path.hasPrefix("/v2/") {
            let rest = path.dropFirst(4)
            route = .other
            if rest.hasSuffix("/tags/list") {
                route = .tags
                name = decoded(rest.dropLast("/tags/list".count))
                return
            }
            for (marker, kind) in [("/manifests/", RegistryRoute.manifest), ("/blobs/", .blob), ("/referrers/", .referrers)] {
                guard let range = rest.ranges(of: marker).last else { continue }
                route = kind
                name = decoded(rest[..<range.lowerBound])
                reference = decoded(rest[range.upperBound...])
                return
            }
        } else {
            route = .other
        }
    }
}

// The registry's own answers, made under the state's lock from what is stored.

extension InProcessRegistry {
    /// The registry's answer to `request` (`body`: what it sent), before any rule changes it.
    func answer(_ request: SeenRequest, body: Data, ignoringRange: Bool, state: inout RegistryState) -> Reply {
        let path = RegistryPath(request.path)
        if path.route == .token { return token(request, state: &state) }
        if path.route == .storage { return storage(request, digest: path.reference, ignoringRange: ignoringRange, state: state) }
        guard [.base, .manifest, .blob, .tags, .referrers].contains(path.route) else {
            return Self.errorReply(404, code: "NOT_FOUND", message: "no such route")
        }
        if case .challenge(let challenge) = authorization(request, path: path, state: &state) {
            var reply = Self.errorReply(401, code: "UNAUTHORIZED", message: "authentication required")
            reply.setHeader("WWW-Authenticate", challenge)
            return reply
        }
        if request.method == "PUT", path.route == .manifest {
            return pushManifest(request, body: body, path: path, state: &state)
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            return Self.errorReply(405, code: "UNSUPPORTED", message: "the in-process registry serves pulls and manifest pushes only")
        }
        switch path.route {
        case .base:
            return Reply(status: 200, headers: [("Content-Type", "application/json"), ("Docker-Distribution-API-Version", "registry/2.0")], body: Data("{}".utf8))
        case .manifest:
            return manifest(request, path: path, state: state)
        case .blob:
            guard let bytes = state.blobs[path.reference] else {
                return Self.errorReply(404, code: "BLOB_UNKNOWN", message: "blob unknown to registry")
            }
            return Self.blob(bytes, digest: path.reference, request: request, ignoringRange: ignoringRange)
        case .tags:
            return tagList(request, repository: path.name, state: state)
        default:
            return referrers(request, path: path, state: state)
        }
    }

    /// Whether the registry answers `request` with a 401 (its rules aside).
    func challenges(_ request: SeenRequest, state: inout RegistryState) -> Bool {
        if case .challenge = authorization(request, path: RegistryPath(request.path), state: &state) { true } else { false }
    }

    /// What the registry asks of a request to its API. Only the main
    /// listener (and what is tunnelled to it) asks for credentials: the
    /// other origin and the socket serve whoever asks.
    private func authorization(_ request: SeenRequest, path: RegistryPath, state: inout RegistryState) -> AuthDecision {
        guard request.listener == .main, [.base, .manifest, .blob, .tags, .referrers].contains(path.route) else { return .allowed }
        return authorize(request, repository: path.name, state: &state)
    }

    /// A manifest pushed with `PUT`: stored under its digest (and the tag
    /// the path names), answered 201 with its digest and, when it has a
    /// `subject`, `OCI-Subject` naming it — how a registry with the
    /// referrers API tells a client that it lists the manifest among that
    /// digest's referrers, so no `sha256-<hex>` tag need be kept. The blobs
    /// it names are not checked: tests store them with ``putBlob(_:)``. A
    /// push is authorised as a pull is.
    private func pushManifest(_ request: SeenRequest, body: Data, path: RegistryPath, state: inout RegistryState) -> Reply {
        guard let mediaType = request.header("Content-Type"), !body.isEmpty else {
            return Self.errorReply(400, code: "MANIFEST_INVALID", message: "a manifest push needs the manifest and its media type as Content-Type")
        }
        let stored = StoredManifest(FixtureBlob(body, mediaType: mediaType))
        let byDigest = path.reference.contains(":")
        guard !byDigest || path.reference == stored.digest else {
            return Self.errorReply(400, code: "DIGEST_INVALID", message: "provided digest did not match uploaded content")
        }
        state.manifests[path.name, default: [:]][stored.digest] = stored
        if !byDigest { state.tags[path.name, default: [:]][path.reference] = stored.digest }
        var headers = [("Location", "/v2/\(path.name)/manifests/\(stored.digest)"), ("Docker-Content-Digest", stored.digest)]
        if let subject = stored.subject { headers.append(("OCI-Subject", subject)) }
        return Reply(status: 201, headers: headers)
    }

    private func manifest(_ request: SeenRequest, path: RegistryPath, state: RegistryState) -> Reply {
        let repository = state.manifests[path.name] ?? [:]
        let digest = path.reference.contains(":") ? path.reference : state.tags[path.name]?[path.reference]
        guard let digest, let stored = repository[digest] else {
            if repository.isEmpty, state.tags[path.name] == nil {
                return Self.errorReply(404, code: "NAME_UNKNOWN", message: "repository name not known to registry")
            }
            return Self.errorReply(404, code: "MANIFEST_UNKNOWN", message: "manifest unknown")
        }
        return Reply(
            status: 200,
            headers: [
                ("Content-Type", stored.mediaType), ("Content-Length", String(stored.bytes.count)), ("Docker-Content-Digest", stored.digest),
                ("ETag", "\"\(stored.digest)\""),
            ],
            body: request.method == "HEAD" ? Data() : stored.bytes)
    }

    /// A blob, whole (200) or the range asked (206, or 416 past its end).
    static func blob(_ bytes: Data, digest: String, request: SeenRequest, ignoringRange: Bool) -> Reply {
        var headers = [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest), ("Accept-Ranges", "bytes")]
        guard !ignoringRange, let range = request.header("Range"), range.hasPrefix("bytes="), request.method == "GET" else {
            headers.append(("Content-Length", String(bytes.count)))
            return Reply(status: 200, headers: headers, body: request.method == "HEAD" ? Data() : bytes)
        }
        let bounds = range.dropFirst("bytes=".count).split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int(bounds[0]), start < bytes.count else {
            return Reply(status: 416, headers: [("Content-Range", "bytes */\(bytes.count)")])
        }
        let end = min(Int(bounds[1]) ?? bytes.count - 1, bytes.count - 1)
        guard end >= start else { return Reply(status: 416, headers: [("Content-Range", "bytes */\(bytes.count)")]) }
        headers.append(("Content-Range", "bytes \(start)-\(end)/\(bytes.count)"))
        return Reply(status: 206, headers: headers, body: bytes.subdata(in: bytes.startIndex + start..<bytes.startIndex + end + 1))
    }

    /// A blob where redirects point: on the other listener, S3's 400 to a
    /// request with any `Authorization` (a signed URL carries its own).
    private func storage(_ request: SeenRequest, digest: String, ignoringRange: Bool, state: RegistryState) -> Reply {
        if request.listener == .other, request.hasAuthorization {
            return Reply(
                status: 400, headers: [("Content-Type", "application/xml")],
                body: Data("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>".utf8))
        }
        guard let bytes = state.blobs[digest] else {
            return Reply(status: 404, headers: [("Content-Type", "application/xml")], body: Data("<Error><Code>NoSuchKey</Code></Error>".utf8))
        }
        return Self.blob(bytes, digest: digest, request: request, ignoringRange: ignoringRange)
    }

    /// The tag list, in lexical order, a page at a time when `n` (or the
    /// registry's page size) says so, from after `last`, with a `Link` to the
    /// next page while tags remain.
    private func tagList(_ request: SeenRequest, repository: String, state: RegistryState) -> Reply {
        guard let known = state.tags[repository] else {
            return Self.errorReply(404, code: "NAME_UNKNOWN", message: "repository name not known to registry")
        }
        let query = request.query
        let last = query.first { $0.name == "last" }?.value
        let size = query.first { $0.name == "n" }.flatMap { Int($0.value) } ?? state.tagPageSize
        var tags = known.keys.sorted().filter { last == nil || $0 > last! }
        var headers = [("Content-Type", "application/json")]
        if let size, tags.count > size {
            tags = Array(tags.prefix(size))
            let next = "/v2/\(repository)/tags/list?n=\(size)&last=\(Self.percentEncoded(tags.last ?? ""))"
            headers.append(("Link", "<\(next)>; rel=\"next\""))
        }
        struct TagList: Encodable {
            var name: String
            var tags: [String]
        }
        return Reply(status: 200, headers: headers, body: encodeJSON(TagList(name: repository, tags: tags)))
    }

    /// The OCI 1.1 referrers of a digest: an index of the manifests whose
    /// `subject` names it, filtered by `artifactType` when asked (and said so
    /// in `OCI-Filters-Applied`).
    private func referrers(_ request: SeenRequest, path: RegistryPath, state: RegistryState) -> Reply {
        guard path.reference.hasPrefix("sha256:"), path.reference.count == 71 else {
            return Self.errorReply(400, code: "DIGEST_INVALID", message: "provided digest did not match uploaded content")
        }
        let filter = request.query.first { $0.name == "artifactType" }?.value
        let found = (state.manifests[path.name] ?? [:]).values
            .filter { $0.subject == path.reference && (filter == nil || $0.artifactType == filter) }
            .sorted { $0.digest < $1.digest }
            .map { DescriptorJSON(mediaType: $0.mediaType, digest: $0.digest, size: $0.bytes.count, artifactType: $0.artifactType, annotations: $0.annotations) }
        var headers = [("Content-Type", TestMediaTypes.ociIndex)]
        if filter != nil { headers.append(("OCI-Filters-Applied", "artifactType")) }
        return Reply(status: 200, headers: headers, body: encodeJSON(IndexJSON(mediaType: TestMediaTypes.ociIndex, manifests: found)))
    }

    /// `text` with everything but unreserved characters percent-encoded
    /// (a socket path as the host of an `http+unix://` URL, a tag in a query).
    public static func percentEncoded(_ text: String) -> String {
        text.utf8.map { byte in
            let unreserved = (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) || "-._~".utf8.contains(byte)
            return unreserved ? String(UnicodeScalar(byte)) : "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
