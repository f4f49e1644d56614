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
            #expect(error != nil)
            #expect(bed.registry.requests.filter { $0.listener == .unixSocket }.isEmpty)
            withKnownIssue("a redirect off http(s) is reported as an unexpected 3xx, without the URL refused") {
                #expect((error.map { String(describing: $0) } ?? "").contains(location))
            }
        }
    }

    /// Tag-list pages that leave the registry's origin: the registry's
    /// credentials (Basic, or a token issued for the user) never go with them.
    @Test(arguments: ["basic", "token for a user"])
    func linkToAnotherOriginCarriesNoCredentials(_ authentication: String) async throws {
        let (auth, credential) = Self.auth(authentication)
        try await InProcessBed.run(auth: auth) { bed in
            for tag in ["a", "b", "c", "d", "e"] { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(2)
            let other = bed.registry.otherBaseURL
            bed.registry.add(.route(.tags, listener: .main), .linkNext { other + $0 })
            // Refusing the page and following it without credentials are both right.
            _ = await thrownError { try await bed.withClient(credential) { try await $0.tags(of: bed.repository) } }
            #expect(bed.registry.requests(.route(.tags, listener: .main)).contains { $0.hasAuthorization })
            withKnownIssue("a Link page on another origin is sent the registry's credentials") {
                #expect(bed.registry.requests.filter { $0.listener == .other }.allSatisfy { !$0.hasAuthorization })
            }
        }
    }

    /// A tag-list page at `http+unix://…`: a registry must not reach a
    /// local socket (a daemon's) through the client.
    @Test func linkToUnixSocketNotFollowed() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/daemon.sock"
        try await InProcessBed.run(unixSocketPath: socket) { bed in
            for tag in ["a", "b", "c"] { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(2)
            let encoded = InProcessRegistry.percentEncoded(socket)
            bed.registry.add(.route(.tags, listener: .main), .linkNext { "http+unix://" + encoded + $0 })
            _ = await thrownError { try await bed.withClient { try await $0.tags(of: bed.repository) } }
            withKnownIssue("a Link page at http+unix:// is followed to the local socket") {
                #expect(bed.registry.requests.filter { $0.listener == .unixSocket }.isEmpty)
            }
        }
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
    /// over plain http. Today such a name is taken for loopback, so the
    /// client skips the proxy and looks the name up, which a test must not do.
    @Test(.disabled("127.0.0.1.example.net and 127.evil are taken for loopback (a prefix test), bypassing the proxy; enable once loopback means IP literals and localhost"),
          arguments: ["127.0.0.1.example.net", "127.evil"])
    func noBasicToNamesThatLookLoopback(_ name: String) async throws {
        try await noBasicOverPlainHTTPToAName(name)
    }

    /// A token realm over plain http gets the user's Basic only on a
    /// loopback host: IP literals in 127/8 and `localhost`, not a name that
    /// starts with `127.` or `localhost`. Every request goes through the
    /// registry as a proxy, which sees what would have reached each host.
    @Test(arguments: [
        ("127.0.0.1", true), ("localhost", true), ("registry.example.net", false), ("localhost.example.net", false),
        ("127.0.0.1.example.net", false), ("127.evil", false),
    ])
    func realmGetsBasicOnlyOnLoopback(_ name: String, allowed: Bool) async throws {
        var auth = RegistryAuth.bearer(users: ["alice": "s3cret"])
        try await InProcessBed.run(auth: auth) { bed in
            auth.realm = .url("http://\(name):\(bed.registry.port)/token")
            bed.registry.setAuth(auth)
            let endpoint = RegistryEndpoint(scheme: "http", host: "registry.example.net:\(bed.registry.port)")
            let error = await thrownError {
                try await bed.withClient(.basic(username: "alice", password: "s3cret"), endpoint: endpoint) { client in
                    try await client.fetchManifest(try bed.reference(host: endpoint.host))
                } configure: { $0.environment["HTTP_PROXY"] = bed.registry.proxyURL }
            }
            // Even a token issued for the user does not go to a plain-http registry that is not loopback.
            #expect((error as? RegistryError).map { if case .insecureCredentials = $0 { true } else { false } } == true)
            let sawBasic = bed.registry.requests(.tokenRequests).contains { $0.authorization?.hasPrefix("Basic ") == true }
            withKnownIssue("a host name that starts with 127. is taken for loopback") {
                #expect(sawBasic == allowed)
            } when: {
                name.hasPrefix("127.") && name != "127.0.0.1"
            }
        }
    }
}
