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

/// 401 → token or Basic, against the in-process registry: what the client
/// asks the realm for, what it caches, when it asks again, and what it
/// does with each form of challenge.
@Suite("In-process registry: authentication", .timeLimit(.minutes(1)))
struct InProcessAuthenticationTests {
    /// An anonymous pull: the 401's challenge answered with a token for the
    /// repository's pull scope and the challenge's service, the token then
    /// used for the manifest and the blob without asking again.
    @Test func anonymousTokenFlowAndCache() async throws {
        try await InProcessBed.run(auth: .bearer()) { bed in
            let config = try InProcessBed.descriptor(bed.image.single.config)
            let bytes = try await bed.withClient { client in
                _ = try await client.fetchManifest(try bed.reference())
                _ = try await client.manifestDigest(try bed.reference())
                return try await client.fetchBlobBytes(config, of: try bed.reference())
            }
            #expect(bytes == bed.image.single.config.bytes)
            let tokens = bed.registry.issuedTokens
            #expect(tokens.count == 1)
            #expect(tokens.first?.scopes == ["repository:team/app:pull"])
            #expect(tokens.first?.service == "in-process-registry")
            #expect(tokens.first?.subject == nil)
            let registryRequests = bed.registry.requests(.registryRequests)
            #expect(registryRequests.map(\.status) == [401, 200, 200, 200])
            #expect(registryRequests.first?.hasAuthorization == false)
            #expect(registryRequests.dropFirst().allSatisfy { $0.authorization == "Bearer " + (tokens.first?.token ?? "") })
        }
    }

    /// The token answer's forms: `token`, `access_token` or both, with and
    /// without a `service` in the challenge (none sent when none was named).
    @Test(arguments: [
        (TokenAnswer.Fields.tokenOnly, "in-process-registry" as String?), (.accessTokenOnly, "in-process-registry"), (.both, nil), (.tokenOnly, nil),
    ])
    func tokenAnswerForms(_ field: TokenAnswer.Fields, service: String?) async throws {
        var auth = RegistryAuth.bearer()
        auth.tokenField = field
        auth.service = service
        try await InProcessBed.run(auth: auth) { bed in
            let document = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(document.digest.description == bed.image.top.digest)
            let query = bed.registry.requests(.tokenRequests).first?.query ?? []
            #expect(query.first { $0.name == "service" }?.value == service)
            #expect(query.filter { $0.name == "scope" }.map(\.value) == ["repository:team/app:pull"])
        }
    }

    /// A token the registry stops accepting (it expired there, whatever
    /// `expires_in` said) is dropped and a new one asked for, once.
    @Test(arguments: ["all tokens expired", "short lifetime"])
    func expiredTokenRenewed(_ how: String) async throws {
        var auth = RegistryAuth.bearer()
        if how == "short lifetime" {
            // The client keeps a token at least 55 s whatever `expires_in` says; the registry refuses it after 1 s.
            auth.expiresIn = 1
            auth.lifetime = .seconds(1)
        }
        try await InProcessBed.run(auth: auth) { bed in
            try await bed.withClient { client in
                _ = try await client.fetchManifest(try bed.reference())
                if how == "short lifetime" { try await Task.sleep(for: .milliseconds(1100)) } else { bed.registry.expireTokens() }
                _ = try await client.fetchManifest(try bed.reference())
            }
            #expect(bed.registry.issuedTokens.count == 2)
            let challenges = bed.registry.requests(.manifestGETs).filter { $0.status == 401 }
            #expect(challenges.count == 2)
            #expect(challenges.last?.hasAuthorization == true)
        }
    }

    /// Credentials go to the realm as Basic (on another origin too: a realm
    /// is where the registry sends them); a token is issued to the user.
    @Test(arguments: [RegistryAuth.Realm.main, .other])
    func credentialsAtTheRealm(_ realm: RegistryAuth.Realm) async throws {
        var auth = RegistryAuth.bearer(users: ["alice": "s3cret"])
        auth.realm = realm
        try await InProcessBed.run(auth: auth) { bed in
            _ = try await bed.withClient(.basic(username: "alice", password: "s3cret")) { client in
                try await client.fetchManifest(try bed.reference())
            }
            let tokenRequest = bed.registry.requests(.tokenRequests).first
            #expect(tokenRequest?.listener == (realm == .main ? .main : .other))
            #expect(tokenRequest?.authorization?.hasPrefix("Basic ") == true)
            #expect(bed.registry.issuedTokens.map(\.subject) == ["alice"])
        }
    }

    /// Refusals, each with what the user can act on: a wrong password at the
    /// realm, no credentials where they are needed, a Basic registry that
    /// refuses the password it asked for.
    @Test(arguments: [
        ("bearer", "alice", "wrong", true), ("bearer", nil, nil, false), ("basic", "alice", "wrong", true), ("basic", nil, nil, false),
    ] as [(String, String?, String?, Bool)])
    func refused(_ scheme: String, username: String?, password: String?, hadCredentials: Bool) async throws {
        let auth: RegistryAuth = scheme == "basic" ? .basic(username: "alice", password: "s3cret") : .bearer(users: ["alice": "s3cret"])
        try await InProcessBed.run(auth: auth) { bed in
            let credential = username.map { Credential.basic(username: $0, password: password ?? "") }
            let error = await thrownError { try await bed.withClient(credential) { try await $0.fetchManifest(try bed.reference()) } }
            guard case .unauthorized(_, _, _, let had)? = error as? RegistryError else {
                Issue.record("expected unauthorized, got \(String(describing: error))")
                return
            }
            #expect(had == hadCredentials)
            // No request was repeated with what was refused.
            #expect(bed.registry.requests.count <= 4)
        }
    }

    /// Basic: the 401 answered once, and every later request carries it
    /// from the start.
    @Test func basicRegistry() async throws {
        try await InProcessBed.run(auth: .basic(username: "alice", password: "s3cret")) { bed in
            let config = try InProcessBed.descriptor(bed.image.single.config)
            _ = try await bed.withClient(.basic(username: "alice", password: "s3cret")) { client in
                _ = try await client.fetchManifest(try bed.reference())
                return try await client.fetchBlobBytes(config, of: try bed.reference())
            }
            #expect(bed.registry.requests.map(\.status) == [401, 200, 200])
            #expect(bed.registry.requests.dropFirst().allSatisfy { $0.authorization?.hasPrefix("Basic ") == true })
        }
    }

    /// The forms challenges come in: none on repository paths (the one of
    /// `/v2/` is asked), after an unsupported one in the same header or in
    /// a header of its own, with unquoted parameters.
    @Test(arguments: ["none on the repository path", "after another in one header", "after another header", "unquoted"])
    func challengeForms(_ form: String) async throws {
        try await InProcessBed.run(auth: .bearer()) { bed in
            let rewrite: @Sendable (String) -> [String] = switch form {
            case "none on the repository path": { _ in [] }
            case "after another in one header": { [#"Newauth realm="apps", type=1, title="Login to \"apps\"", "# + $0] }
            case "after another header": { ["Negotiate", $0] }
            default: { [$0.replacing("\"", with: "")] }
            }
            bed.registry.add(.route(.manifest), .challenges(rewrite))
            let document = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(document.digest.description == bed.image.top.digest)
            #expect(bed.registry.issuedTokens.first?.scopes == ["repository:team/app:pull"])
        }
    }

    /// A 401 with no challenge anywhere cannot be answered: said so, after
    /// one look at `/v2/`.
    @Test func noChallengeAnywhere() async throws {
        try await InProcessBed.run(auth: .bearer()) { bed in
            bed.registry.add(.registryRequests, .challenges { _ in [] })
            let error = await thrownError { try await bed.withClient { try await $0.fetchManifest(try bed.reference()) } }
            guard case .unauthorized(_, _, let detail, _)? = error as? RegistryError else {
                Issue.record("expected unauthorized, got \(String(describing: error))")
                return
            }
            #expect(detail.contains("no challenge"))
            #expect(bed.registry.requests(.route(.base)).count == 1)
        }
    }

    /// A first challenge for another repository's scope, then
    /// `insufficient_scope` for the right one: a token for each.
    @Test func insufficientScope() async throws {
        try await InProcessBed.run(auth: .bearer()) { bed in
            bed.registry.add(.manifestGETs, .challenges { [$0.replacing("repository:team/app:pull", with: "repository:other/thing:pull")] }, times: 1)
            _ = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(bed.registry.issuedTokens.map(\.scopes) == [["repository:other/thing:pull"], ["repository:team/app:pull"]])
            let answers = bed.registry.requests(.manifestGETs)
            #expect(answers.map(\.status) == [401, 401, 200])
        }
    }

    /// A token endpoint that answers 503 once is asked again.
    @Test func tokenEndpointRetried() async throws {
        try await InProcessBed.run(auth: .bearer()) { bed in
            bed.registry.add(.tokenRequests, .retryLater(status: 503, retryAfter: nil), times: 1)
            _ = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(bed.registry.requests(.tokenRequests).map(\.status) == [503, 200])
            #expect(bed.notices.all.count == 1)
        }
    }
}
