#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// The authentication state of one run against one registry: the user's
/// credential per repository, the scheme the registry asked for, and the
/// bearer tokens its realm issued, cached per scope until they expire.
/// Concurrent requests of one scope share one token request.
///
/// It decides; ``RegistryClient`` sends (token requests too, through the
/// same request path as everything else).
actor AuthSession {
    /// A token a realm issued, as the header that carries it.
    struct IssuedToken: Sendable {
        var header: String
        var expires: ContinuousClock.Instant
        /// Whether it was issued for the user's credentials, rather than to an anonymous client.
        var fromCredentials: Bool
    }

    /// What answering a challenge needs.
    enum Answer: Sendable {
        /// The next attempt carries the right header already.
        case ready
        /// A token is needed from this request first.
        case token(TokenRequest)
    }

    private let endpoint: RegistryEndpoint
    private let resolver: CredentialResolver?
    private let configuration: RegistryClientConfiguration

    /// Tokens by `realm|service|scope`.
    private var tokens: [String: IssuedToken] = [:]
    /// The token cache key last used for each repository.
    private var scopeKeys: [String: String] = [:]
    /// Token requests under way, so concurrent 401s share one.
    private var pending: [String: Task<IssuedToken, any Error>] = [:]
    /// Set once the registry asked for Basic: every later request carries it.
    private var basicHeader: String?
    /// Credentials resolved per repository (helpers run once).
    private var resolved: [String: ResolvedCredential?] = [:]
    /// The challenges of `GET /v2/`, asked once, for registries whose 401s
    /// on repository paths carry none (gcr.io).
    private var ping: Task<[String], any Error>?

    init(endpoint: RegistryEndpoint, resolver: CredentialResolver?, configuration: RegistryClientConfiguration) {
        self.endpoint = endpoint
        self.resolver = resolver
        self.configuration = configuration
    }

    /// The `Authorization` a request for `repository` carries, if one is
    /// known. Nothing is run for it: a credential helper is asked only when
    /// the registry challenges, so a registry that needs no credentials
    /// never waits on one.
    func authorization(for repository: String) -> RegistryClient.Authorization? {
        if case .bearer(let token)? = upfront(for: repository)?.credential {
            return .init(header: "Bearer \(token)", fromCredentials: true)
        }
        if let basicHeader { return .init(header: basicHeader, fromCredentials: true) }
        if let key = scopeKeys[repository], let token = tokens[key] {
            if token.expires > .now { return .init(header: token.header, fromCredentials: token.fromCredentials) }
            tokens[key] = nil
        }
        return nil
    }

    /// Whether a credential was offered for `repository` (for messages; runs nothing).
    func hasCredential(for repository: String) -> Bool {
        if case .some(.some) = resolved[repository] { return true }
        return upfront(for: repository) != nil
    }

    /// The `WWW-Authenticate` headers of `GET /v2/`, fetched with `fetch`
    /// at the first need and kept for the run.
    func pingChallenges(_ fetch: @escaping @Sendable () async throws -> [String]) async throws -> [String] {
        let task = ping ?? Task { try await fetch() }
        ping = task
        return try await task.value
    }

    /// How to answer a 401: the first challenge hocker supports, in the
    /// order the registry sent them. `rejected` is the header the 401
    /// answered, so a token the registry no longer accepts is dropped from
    /// the cache.
    func answer(challenge: AuthChallenge?, repository: String, rejected: String?, gate: URLGate) async throws -> Answer {
        let source = try await credential(for: repository)
        if let source, case .bearer = source.credential {
            // The user's own token was refused; there is nothing else to try.
            throw RegistryError.unauthorized(
                repository: repository, registry: endpoint.host, detail: "the registry rejected the bearer token from \(source.origin)", hadCredentials: true)
        }
        guard let challenge else {
            throw RegistryError.unauthorized(
                repository: repository, registry: endpoint.host, detail: "the registry sent no challenge hocker can answer", hadCredentials: source != nil)
        }
        if challenge.scheme == "basic" {
            guard let source, let header = source.credential.basicAuthorization else {
                throw RegistryError.unauthorized(
                    repository: repository, registry: endpoint.host, detail: "the registry asks for a username and password", hadCredentials: source != nil)
            }
            if rejected == header {
                throw RegistryError.unauthorized(
                    repository: repository, registry: endpoint.host, detail: "the registry rejected \(source.credential) from \(source.origin)", hadCredentials: true)
            }
            basicHeader = header
            return .ready
        }
        guard let realm = challenge.realm, !realm.isEmpty else {
            throw RegistryError.tokenRequestFailed(realm: "(none)", status: nil, detail: "the challenge names no realm")
        }
        let admitted = try gate.admit(realm, as: .tokenRealm)
        guard let realmURL = URL(string: admitted) else {
            throw RegistryError.tokenRequestFailed(realm: realm, status: nil, detail: "the challenge's realm is not an http(s) URL")
        }
        // A Bearer challenge after Basic worked (a token service in front) replaces it.
        basicHeader = nil
        let request = TokenRequest(
            realm: realmURL, service: challenge.service, scope: challenge.scope ?? "repository:\(repository):pull", credential: source,
            repository: repository, registry: endpoint.host)
        let key = request.cacheKey
        if let cached = tokens[key], cached.header == rejected || cached.expires <= .now {
            tokens[key] = nil
        }
        scopeKeys[repository] = key
        return tokens[key] == nil ? .token(request) : .ready
    }

    /// Makes the token `request` names available, running `fetch` unless a
    /// fetch of the same scope is already under way.
    func obtain(_ request: TokenRequest, fetch: @escaping @Sendable () async throws -> IssuedToken) async throws {
        let key = request.cacheKey
        if let cached = tokens[key], cached.expires > .now { return }
        let task = pending[key] ?? Task { try await fetch() }
        pending[key] = task
        defer { pending[key] = nil }
        let token = try await task.value
        configuration.redactor?.register(String(token.header.dropFirst("Bearer ".count)))
        tokens[key] = token
    }

    /// The credential for `repository`, a credential helper run if the
    /// auth files name one (bounded by the helper timeout and the deadline).
    private func credential(for repository: String) async throws -> ResolvedCredential? {
        if let known = resolved[repository] { return known }
        let timeout = HelperTimeout.within(configuration.credentialHelperTimeout, deadline: configuration.deadline)
        let found = try await resolver?.credential(registry: endpoint.name, repository: repository, helperTimeout: timeout)
        resolved[repository] = .some(found)
        return found
    }

    /// The credential that needs nothing run, if any.
    func upfront(for repository: String) -> ResolvedCredential? {
        if let known = resolved[repository] { return known }
        return resolver?.upfrontCredential(registry: endpoint.name, repository: repository)
    }
}

/// How long an issued token is used.
enum TokenLifetime {
    /// The token spec's floor: an `expires_in` absent or below it counts as it.
    static let minimum = 60
    /// How long before its end a token is renewed, so that a request sent
    /// just before it expires does not reach the registry just after.
    static let renewalMargin = 5

    /// When a token received at `received` stops being used: `expires_in`
    /// seconds (at least 60) after it arrived, less the margin. `issued_at`
    /// is not used: a clock that differs from the issuer's, or an
    /// `issued_at` in the future, can make no token last longer or shorter
    /// than it was issued for.
    static func renewal(expiresIn: Int?, received: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let lifetime: Int = max(expiresIn ?? minimum, minimum)
        let used: Duration = .seconds(lifetime - renewalMargin)
        return received + used
    }
}
