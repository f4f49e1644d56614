import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The credential rule against the in-process registry: credentials only
/// to the origin that asked for them, never over plain http to a host that
/// is not loopback, and no URL the registry hands over that leads off
/// http(s) (a file, an FTP server, a local socket).
@Suite("In-process registry: the credential rule", .timeLimit(.minutes(1)))
struct InProcessCredentialRuleTests {
    /// The registries a blob is redirected from, and the client's credential.
    static let authentications = ["open", "anonymous token", "token for a user", "basic"]

    static func auth(_ name: String) -> (RegistryAuth, Credential?) {
        let alice = Credential.basic(username: "alice", password: "s3cret")
        return switch name {
        case "anonymous token": (.bearer(), nil)
        case "token for a user": (.bearer(users: ["alice": "s3cret"]), alice)
        case "basic": (.basic(username: "alice", password: "s3cret"), alice)
        default: (.open, nil)
        }
    }

    /// A blob redirected to storage on another origin, which refuses any
    /// `Authorization` (S3's 400): fetched there without it, whatever the
    /// registry asked of the client.
    @Test(arguments: authentications, [302, 307])
    func crossOriginRedirectCarriesNoAuthorization(_ authentication: String, status: Int) async throws {
        let (auth, credential) = Self.auth(authentication)
        try await InProcessBed.run(auth: auth) { bed in
            bed.registry.add(.blobGETs, .redirect(status: status, to: .storage))
            let layer = bed.image.single.layers[0]
            let bytes = try await bed.withClient(credential) { client in
                try await client.fetchBlobBytes(try InProcessBed.descriptor(layer), of: try bed.reference(), limit: 1 << 20)
            }
            #expect(bytes == layer.bytes)
            let storage = bed.registry.requests(.route(.storage))
            #expect(storage.count == 1)
            #expect(storage.allSatisfy { $0.listener == .other && !$0.hasAuthorization && $0.status == 200 })
            if authentication != "open" {
                #expect(bed.registry.requests(.blobGETs).last?.hasAuthorization == true)
            }
        }
    }

    /// A relative `Location` is resolved against the registry's URL and
    /// stays on its origin.
    @Test func relativeRedirect() async throws {
        let (auth, credential) = Self.auth("basic")
        try await InProcessBed.run(auth: auth) { bed in
            bed.registry.add(.blobGETs, .redirect(to: .relativeStorage))
            let layer = bed.image.single.layers[0]
            let bytes = try await bed.withClient(credential) { client in
                try await client.fetchBlobBytes(try InProcessBed.descriptor(layer), of: try bed.reference(), limit: 1 << 20)
            }
            #expect(bytes == layer.bytes)
            #expect(bed.registry.requests(.route(.storage)).map(\.listener) == [.main])
        }
    }

    /// A redirect off http(s) is refused and never followed: the local
    /// socket it names sees no connection. The refusal names the URL
    /// refused and why, not "unexpected HTTP 307".
    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1:21/blob", "http+unix://SOCKET/v2/team/app/blobs/DIGEST"])
    func redirectOffHTTPRefused(_ template: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/registry.sock"
        try await InProcessBed.run(unixSocketPath: socket) { bed in
            let layer = bed.image.single.layers[0]
            let location = template.replacing("SOCKET", with: InProcessRegistry.percentEncoded(socket)).replacing("DIGEST", with: layer.digest)
            bed.registry.add(.blobGETs, .redirect(to: .location(location)))
            let error = await thrownError {
                try await bed.withClient { client in
                    try await client.fetchBlobBytes(try InProcessBed.descriptor(layer), of: try bed.reference(), limit: 1 << 20)
                }
            }
            let refused = try #require(Self.refusal(error))
            #expect(refused.url == location)
            #expect(refused.kind == .redirect(from: bed.registry.baseURL + "/v2/team/app/blobs/" + layer.digest))
            #expect((error as? RegistryError)?.message.contains(location) == true)
            #expect(bed.registry.requests.filter { $0.listener == .unixSocket }.isEmpty)
            // Refused, not retried: one request to the registry.
            #expect(bed.registry.requests(.blobGETs).count == 1)
        }
    }

    /// Tag-list pages that leave the registry's origin are refused, naming
    /// the page: the other origin is asked nothing, so the registry's
    /// credentials (Basic, or a token issued for the user) never reach it.
    @Test(arguments: ["open", "basic", "token for a user"])
    func linkToAnotherOriginRefused(_ authentication: String) async throws {
        let (auth, credential) = Self.auth(authentication)
        try await InProcessBed.run(auth: auth) { bed in
            for tag in ["a", "b", "c", "d", "e"] { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(2)
            let other = bed.registry.otherBaseURL
            bed.registry.add(.route(.tags, listener: .main), .linkNext { other + $0 })
            let error = await thrownError { try await bed.withClient(credential) { try await $0.tags(of: bed.repository) } }
            let refused = try #require(Self.refusal(error))
            #expect(refused.url.hasPrefix(other + "/v2/team/app/tags/list"))
            guard case .nextPage = refused.kind else {
                Issue.record("expected the next page refused, got \(refused.kind)")
                return
            }
            #expect((error as? RegistryError)?.message.contains(refused.url) == true)
            #expect(bed.registry.requests.filter { $0.listener == .other }.isEmpty)
            if credential != nil {
                #expect(bed.registry.requests(.route(.tags, listener: .main)).contains { $0.hasAuthorization })
            }
        }
    }

    /// A loopback registry named without a scheme answers over plain http
    /// (the https attempt finds no TLS); the pages it names in full on that
    /// plain-http origin are its own, as are errors named by that origin.
    @Test func absoluteLinksAfterFallingBackToPlainHTTP() async throws {
        try await InProcessBed.run { bed in
            for tag in ["a", "b", "c", "d", "e"] { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(2)
            let own = bed.registry.baseURL
            #expect(own.hasPrefix("http://127.0.0.1:"))
            bed.registry.add(.route(.tags, listener: .main), .linkNext { own + $0 })
            let endpoint = RegistryEndpoint(registryName: bed.registry.host)
            let tags = try await bed.withClient(endpoint: endpoint) { try await $0.tags(of: bed.repository) }
            #expect(Set(tags) == ["a", "b", "c", "d", "e", "latest"])
            #expect(bed.registry.requests(.route(.tags, listener: .main)).count == 3)
        }
    }

    /// A tag-list page at `http+unix://…`: a registry must not reach a
    /// local socket (a daemon's) through the client. Refused, naming it.
    @Test func linkToUnixSocketRefused() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/daemon.sock"
        try await InProcessBed.run(unixSocketPath: socket) { bed in
            for tag in ["a", "b", "c"] { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(2)
            let encoded = InProcessRegistry.percentEncoded(socket)
            bed.registry.add(.route(.tags, listener: .main), .linkNext { "http+unix://" + encoded + $0 })
            let error = await thrownError { try await bed.withClient { try await $0.tags(of: bed.repository) } }
            let refused = try #require(Self.refusal(error))
            #expect(refused.url.hasPrefix("http+unix://" + encoded))
            #expect(refused.reason.contains("http+unix"))
            #expect(bed.registry.requests.filter { $0.listener == .unixSocket }.isEmpty)
        }
    }

    /// The URL, kind and reason of a ``RegistryError/refusedURL(url:kind:reason:)``; nil (recorded) for any other error.
    static func refusal(_ error: (any Error)?, sourceLocation: SourceLocation = #_sourceLocation) -> (url: String, kind: HandedURL, reason: String)? {
        guard case .refusedURL(let url, let kind, let reason)? = error as? RegistryError else {
            Issue.record("expected a refused URL, got \(String(describing: error))", sourceLocation: sourceLocation)
            return nil
        }
        return (url, kind, reason)
    }

    /// Basic over plain http to a registry whose name is not loopback is
    /// refused before it is sent (the registry reached through a proxy, so
    /// no name is looked up).
    @Test(arguments: ["registry.example.net", "localhost.example.net"])
    func noBasicOverPlainHTTPToAName(_ name: String) async throws {
        try await InProcessBed.run(auth: .basic(username: "alice", password: "s3cret")) { bed in
            let endpoint = RegistryEndpoint(scheme: "http", host: "\(name):\(bed.registry.port)")
            let error = await thrownError {
                try await bed.withClient(.basic(username: "alice", password: "s3cret"), endpoint: endpoint) { client in
                    try await client.fetchManifest(try bed.reference(host: endpoint.host))
                } configure: { $0.environment["HTTP_PROXY"] = bed.registry.proxyURL }
            }
            guard case .insecureCredentials(let host)? = error as? RegistryError else {
                Issue.record("expected insecureCredentials, got \(String(describing: error))")
                return
            }
            #expect(host == name)
            #expect(!bed.registry.requests.isEmpty)
            #expect(bed.registry.requests.allSatisfy { !$0.hasAuthorization && $0.host?.hasPrefix(name) == true })
        }
    }

    /// Names that only look loopback are not: Basic is not sent to them
    /// over plain http, and the client goes through the proxy for them as
    /// for any name (none is looked up).
    @Test(arguments: ["127.0.0.1.example.net", "127.evil", "localhost.example.net"])
    func noBasicToNamesThatLookLoopback(_ name: String) async throws {
        try await noBasicOverPlainHTTPToAName(name)
    }

    /// A token realm over plain http named by a registry that is not on
    /// loopback: on the registry's own host, named with http://, it is
    /// asked but the user's Basic is withheld; on any other name — a
    /// loopback one too (it would reach whatever listens on this machine,
    /// in clear), or one that merely starts with `127.` or `localhost` — the
    /// URL gate refuses it before anything is sent. Every request goes
    /// through the registry as a proxy, which sees what would have reached
    /// each host. (A loopback registry's loopback realm gets Basic: the
    /// token tests against docker-registry.)
    @Test(arguments: [
        ("127.0.0.1", RealmOutcome.refused), ("localhost", .refused), ("registry.example.net", .withheld),
        ("localhost.example.net", .refused), ("127.0.0.1.example.net", .refused), ("127.evil", .refused), ("10.0.0.1", .refused),
    ])
    func realmGetsBasicOnlyOnLoopback(_ name: String, outcome: RealmOutcome) async throws {
        var auth = RegistryAuth.bearer(users: ["alice": "s3cret"])
        try await InProcessBed.run(auth: auth) { bed in
            let realm = "http://\(name):\(bed.registry.port)/token"
            auth.realm = .url(realm)
            bed.registry.setAuth(auth)
            let endpoint = RegistryEndpoint(scheme: "http", host: "registry.example.net:\(bed.registry.port)")
            let error = await thrownError {
                try await bed.withClient(.basic(username: "alice", password: "s3cret"), endpoint: endpoint) { client in
                    try await client.fetchManifest(try bed.reference(host: endpoint.host))
                } configure: { $0.environment["HTTP_PROXY"] = bed.registry.proxyURL }
            }
            let tokenRequests = bed.registry.requests(.tokenRequests)
            switch outcome {
            case .refused:
                let refused = try #require(Self.refusal(error))
                #expect(refused.kind == .tokenRealm)
                #expect(refused.url.hasPrefix(realm))
                #expect(tokenRequests.isEmpty)
            case .withheld:
                // Even a token issued for the user does not go to a plain-http registry that is not loopback.
                guard case .insecureCredentials? = error as? RegistryError else {
                    Issue.record("expected insecureCredentials, got \(String(describing: error))")
                    return
                }
                #expect(!tokenRequests.contains { $0.authorization?.hasPrefix("Basic ") == true })
            }
            #expect(bed.registry.requests(.registryRequests).allSatisfy { !$0.hasAuthorization })
        }
    }

    /// What becomes of the user's Basic when a realm on plain http is named.
    enum RealmOutcome: Sendable, CustomStringConvertible {
        /// The realm is on the registry's own host, named with http://: the
        /// gate lets it through, the credential rule withholds the Basic.
        case withheld
        /// The URL gate refuses the realm: nothing is sent.
        case refused

        var description: String {
            switch self {
            case .withheld: "Basic withheld"
            case .refused: "refused"
            }
        }
    }
}
