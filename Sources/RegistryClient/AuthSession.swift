import Foundation
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

    /// The `Authorization` a request for `repository` carries, if one is known.
    /// A credential helper that fails here is not an error yet: the
    /// registry may need no credentials at all. It is run again, and its
    /// failure reported, when the registry asks for them.
    func authorization(for repository: String) throws -> RegistryClient.Authorization? {
        if case .bearer(let token)? = (try? credential(for: repository))??.credential {
            return .init(header: "Bearer \(token)", fromCredentials: true)
        }
        if let basicHeader { return .init(header: basicHeader, fromCredentials: true) }
        if let key = scopeKeys[repository], let token = tokens[key] {
            if token.expires > .now { return .init(header: token.header, fromCredentials: token.fromCredentials) }
            tokens[key] = nil
        }
        return nil
    }

    /// Whether any credential will be offered for `repository`.
    func hasCredential(for repository: String) -> Bool {
        (try? credential(for: repository)) != nil
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
    func answer(challenge: AuthChallenge?, repository: String, rejected: String?) throws -> Answer {
        let source = try credential(for: repository)
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
        let realm = challenge.realm ?? ""
        guard let realmURL = URL(string: realm), let scheme = realmURL.scheme?.lowercased(), scheme == "https" || scheme == "http", realmURL.host != nil
        else {
            throw RegistryError.tokenRequestFailed(realm: realm.isEmpty ? "(none)" : realm, status: nil, detail: "the challenge's realm is not an http(s) URL")
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

    private func credential(for repository: String) throws -> ResolvedCredential? {
        if let known = resolved[repository] { return known }
        let found = try resolver?.credential(registry: endpoint.name, repository: repository)
        resolved[repository] = .some(found)
        return found
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
