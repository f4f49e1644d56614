import AsyncHTTPClient
import Foundation
import ImageReference
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Answers a registry's authentication challenges for one run: turns the
/// user's credential into `Authorization` headers, fetching bearer tokens
/// from the challenge's realm and caching them per scope until they expire.
/// Concurrent downloads share one token request per scope.
actor AuthSession {
    /// Whether credentials may be sent to `host` over `scheme`: over https,
    /// to a loopback host, or when `--insecure` allows plain http anywhere.
    static func mayCarryCredentials(scheme: String, host: String, insecure: Bool) -> Bool {
        scheme.lowercased() == "https" || RegistryEndpoint.isLoopback(host: host) || insecure
    }

    private struct CachedToken: Sendable {
        var header: String
        var expires: ContinuousClock.Instant
    }

    private let endpoint: RegistryEndpoint
    private let resolver: CredentialResolver?
    private let http: HTTPClient
    private let configuration: RegistryClientConfiguration
    private let deadline: ContinuousClock.Instant?
    private let logger: Logger

    /// Tokens by `realm|service|scope`.
    private var tokens: [String: CachedToken] = [:]
    /// The token cache key last used for each repository.
    private var scopeKeys: [String: String] = [:]
    /// Token requests under way, so concurrent 401s share one.
    private var pending: [String: Task<CachedToken, any Error>] = [:]
    /// Set once the registry asked for Basic: every later request carries it.
    private var basicHeader: String?
    /// Credentials resolved per repository (helpers run once).
    private var resolved: [String: ResolvedCredential?] = [:]

    init(
        endpoint: RegistryEndpoint, resolver: CredentialResolver?, http: HTTPClient, configuration: RegistryClientConfiguration,
        deadline: ContinuousClock.Instant? = nil, logger: Logger
    ) {
        self.endpoint = endpoint
        self.resolver = resolver
        self.http = http
        self.configuration = configuration
        self.deadline = deadline
        self.logger = logger
    }

    /// The `Authorization` header to send with a request for `repository`, if one is known.
    func authorization(for repository: String) throws -> String? {
        if case .bearer(let token)? = try credential(for: repository)?.credential {
            return "Bearer \(token)"
        }
        if let basicHeader { return basicHeader }
        if let key = scopeKeys[repository], let token = tokens[key] {
            if token.expires > .now { return token.header }
            tokens[key] = nil
        }
        return nil
    }

    /// Whether any credential will be offered for `repository`.
    func hasCredential(for repository: String) -> Bool {
        (try? credential(for: repository)) != nil
    }

    /// Responds to a 401: fetches a token (or sets up Basic) so the request
    /// can be sent once more. `rejected` is the header the 401 answered, so a
    /// token the registry no longer accepts is dropped from the cache.
    func authenticate(challenges: [AuthChallenge], repository: String, rejected: String?) async throws {
        let source = try credential(for: repository)
        if let source, case .bearer = source.credential {
            // The user's own token was refused; there is nothing else to try.
            throw RegistryError.unauthorized(
                repository: repository, registry: endpoint.host, detail: "the registry rejected the bearer token from \(source.origin)", hadCredentials: true)
        }
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            guard let realm = bearer.realm, let realmURL = URL(string: realm), let scheme = realmURL.scheme?.lowercased(),
                  scheme == "https" || scheme == "http", realmURL.host != nil
            else {
                throw RegistryError.tokenRequestFailed(realm: bearer.realm ?? "(none)", status: nil, detail: "the challenge's realm is not an http(s) URL")
            }
            let scope = bearer.scope ?? "repository:\(repository):pull"
            let key = "\(realm)|\(bearer.service ?? "")|\(scope)"
            if let cached = tokens[key], cached.header == rejected || cached.expires <= .now {
                tokens[key] = nil
            }
            scopeKeys[repository] = key
            if tokens[key] != nil { return }
            let task: Task<CachedToken, any Error>
            if let existing = pending[key] {
                task = existing
            } else {
                let request = TokenRequest(realm: realmURL, service: bearer.service, scope: scope, credential: source, repository: repository, registry: endpoint.host)
                let http = http
                let retry = RetryBudget(configuration: configuration, deadline: deadline)
                let logger = logger
                task = Task { try await request.perform(http: http, retry: retry, logger: logger) }
                pending[key] = task
            }
            defer { pending[key] = nil }
            tokens[key] = try await task.value
            return
        }
        if challenges.contains(where: { $0.scheme == "basic" }) {
            guard let source, let header = source.credential.basicAuthorization else {
                throw RegistryError.unauthorized(repository: repository, registry: endpoint.host, detail: "the registry asks for a username and password", hadCredentials: source != nil)
            }
            if rejected == header {
                throw RegistryError.unauthorized(
                    repository: repository, registry: endpoint.host, detail: "the registry rejected \(source.credential) from \(source.origin)", hadCredentials: true)
            }
            guard AuthSession.mayCarryCredentials(scheme: endpoint.scheme, host: endpoint.host, insecure: configuration.insecure) else {
                throw RegistryError.insecureCredentials(registry: endpoint.host)
            }
            basicHeader = header
            return
        }
        throw RegistryError.unauthorized(repository: repository, registry: endpoint.host, detail: "the registry sent no challenge hocker can answer", hadCredentials: source != nil)
    }

    private func credential(for repository: String) throws -> ResolvedCredential? {
        if let known = resolved[repository] { return known }
        let found = try resolver?.credential(registry: endpoint.name, repository: repository)
        resolved[repository] = .some(found)
        return found
    }

    /// A request to a token realm (the Docker registry token spec).
    private struct TokenRequest: Sendable {
        var realm: URL
        var service: String?
        var scope: String
        var credential: ResolvedCredential?
        var repository: String
        var registry: String

        func perform(http: HTTPClient, retry: RetryBudget, logger: Logger) async throws -> CachedToken {
            let configuration = retry.configuration
            let realmText = realm.absoluteString
            if credential != nil, !AuthSession.mayCarryCredentials(scheme: realm.scheme ?? "", host: realm.host ?? "", insecure: configuration.insecure) {
                throw RegistryError.insecureCredentials(registry: realm.host ?? realmText)
            }
            var query = URLComponents()
            var items: [URLQueryItem] = []
            if let service { items.append(URLQueryItem(name: "service", value: service)) }
            items.append(URLQueryItem(name: "scope", value: scope))
            var request: HTTPClientRequest
            switch credential?.credential {
            case .identityToken(let refreshToken)?:
                // OAuth2 refresh-token grant, as docker does with an identity token.
                request = HTTPClientRequest(url: realmText)
                request.method = .POST
                items += [
                    URLQueryItem(name: "grant_type", value: "refresh_token"),
                    URLQueryItem(name: "refresh_token", value: refreshToken),
                    URLQueryItem(name: "client_id", value: "hocker"),
                ]
                query.queryItems = items
                let body = (query.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: body))
            case .basic?:
                var components = URLComponents(url: realm, resolvingAgainstBaseURL: false) ?? URLComponents()
                components.queryItems = (components.queryItems ?? []) + items
                request = HTTPClientRequest(url: components.string ?? realmText)
                if let header = credential?.credential.basicAuthorization { request.headers.add(name: "Authorization", value: header) }
            case .bearer?, nil:
                var components = URLComponents(url: realm, resolvingAgainstBaseURL: false) ?? URLComponents()
                components.queryItems = (components.queryItems ?? []) + items
                request = HTTPClientRequest(url: components.string ?? realmText)
            }
            request.headers.add(name: "User-Agent", value: configuration.userAgent)
            logger.debug("token request", metadata: ["realm": "\(realmText)", "scope": "\(scope)"])
            // A token server that fails to answer, or answers 429/5xx, is retried as
            // registry requests are; its final failure is reported as a token failure.
            var retry = retry
            var response: HTTPClientResponse
            var body: ByteBuffer
            while true {
                retry.attempt()
                let failure: String
                var retryAfter: Duration?
                var status: Int?
                var retryable = true
                do {
                    response = try await http.execute(request, timeout: min(configuration.connectTimeout + configuration.readTimeout, retry.requestTimeout))
                    body = try await response.body.collect(upTo: 1024 * 1024)
                    guard RetryBudget.isRetryable(status: response.status.code) else { break }
                    status = Int(response.status.code)
                    failure = RegistryClient.errorSummary(body)
                    retryAfter = response.headers.first(name: "Retry-After").flatMap(RegistryClient.parseRetryAfter)
                } catch {
                    failure = RegistryClient.describe(error)
                    retryable = RegistryClient.isRetryable(error)
                }
                let delay: Duration
                do {
                    delay = try retry.failed(url: realmText, last: failure, retryable: retryable, retryAfter: retryAfter)
                } catch {
                    let attempts = retry.attempts > 1 ? "after \(retry.attempts) attempts" : ""
                    throw RegistryError.tokenRequestFailed(
                        realm: realmText, status: status, detail: [failure, attempts].filter { !$0.isEmpty }.joined(separator: ", "))
                }
                logger.debug("token request failed, retrying", metadata: ["realm": "\(realmText)", "error": "\(failure)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
            }
            guard response.status == .ok else {
                if response.status == .unauthorized || response.status == .forbidden {
                    throw RegistryError.unauthorized(
                        repository: repository, registry: registry,
                        detail: credential.map { "the token server rejected \($0.credential) from \($0.origin)" } ?? "the token server requires credentials",
                        hadCredentials: credential != nil)
                }
                throw RegistryError.tokenRequestFailed(realm: realmText, status: Int(response.status.code), detail: RegistryClient.errorSummary(body))
            }
            struct TokenResponse: Decodable {
                var token: String?
                var access_token: String?
                var expires_in: Int?
            }
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)),
                  let token = decoded.token ?? decoded.access_token, !token.isEmpty
            else {
                throw RegistryError.tokenRequestFailed(realm: realmText, status: 200, detail: "the answer has no token")
            }
            // The spec's floor is 60 s; renew a little before the registry would refuse it.
            let lifetime = max(decoded.expires_in ?? 60, 60)
            configuration.redactor?.register(token)
            return CachedToken(header: "Bearer \(token)", expires: .now + .seconds(lifetime - 5))
        }
    }
}
