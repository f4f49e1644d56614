import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1

/// A request to a token realm (the Docker registry token spec): the realm,
/// the service and scope the challenge named, and the credential to
/// authenticate with, if any.
struct TokenRequest: Sendable {
    var realm: URL
    var service: String?
    var scope: String
    var credential: ResolvedCredential?
    /// The repository and registry the token is for, for messages.
    var repository: String
    var registry: String

    /// Tokens are cached by realm, service and scope.
    var cacheKey: String { "\(realm.absoluteString)|\(service ?? "")|\(scope)" }

    /// The HTTP request: a GET with the query (Basic credentials in the
    /// header), or for an identity token the OAuth2 refresh-token grant as
    /// a form POST, as docker sends it.
    var registryRequest: RegistryRequest {
        if case .identityToken(let refreshToken, _)? = credential?.credential {
            var request = RegistryRequest(.POST, realm.absoluteString, authentication: .tokenRealm(nil))
            var form = URLComponents()
            form.queryItems = serviceAndScope + [
                URLQueryItem(name: "grant_type", value: "refresh_token"),
                URLQueryItem(name: "refresh_token", value: refreshToken),
                URLQueryItem(name: "client_id", value: "hocker"),
            ]
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = ByteBuffer(string: (form.percentEncodedQuery ?? "").replacing("+", with: "%2B"))
            request.bodyCarriesCredential = true
            return request
        }
        return getRequest(credential: credential)
    }

    /// `service` (when the challenge named one) and `scope`, as every token request sends them.
    private var serviceAndScope: [URLQueryItem] {
        (service.map { [URLQueryItem(name: "service", value: $0)] } ?? []) + [URLQueryItem(name: "scope", value: scope)]
    }

    /// The token spec's GET: the realm's own query kept, `service` and
    /// `scope` added, `credential` sent with Basic.
    private func getRequest(credential: ResolvedCredential?) -> RegistryRequest {
        var components = URLComponents(url: realm, resolvingAgainstBaseURL: false) ?? URLComponents()
        components.queryItems = (components.queryItems ?? []) + serviceAndScope
        return RegistryRequest(.GET, components.string ?? realm.absoluteString, authentication: .tokenRealm(credential))
    }

    /// For an identity token whose POST the realm refused (404 or 405: a
    /// realm that serves only the token spec's GET), that GET with Basic
    /// `USERNAME:IDENTITYTOKEN` (docker's `<token>` when no user name was
    /// stored), as ACR takes it; nil for any other credential.
    var getFallback: RegistryRequest? {
        guard let credential, case .identityToken(let refreshToken, let username) = credential.credential else { return nil }
        let basic = ResolvedCredential(.basic(username: username ?? "<token>", password: refreshToken), origin: credential.origin)
        return getRequest(credential: basic)
    }
}

extension RegistryClient {
    /// Asks a realm for a token, through the request path (retries, the
    /// credential rule). Its final failure is reported as a token failure.
    /// An identity token's POST that the realm refuses with 404 or 405 is
    /// asked again once, as the token spec's GET (``TokenRequest/getFallback``).
    func requestToken(_ token: TokenRequest) async throws -> AuthSession.IssuedToken {
        let realmText = token.realm.absoluteString
        logger.debug("token request", metadata: ["realm": "\(realmText)", "scope": "\(token.scope)"])
        var retry = makeRetryBudget()
        var body: ByteBuffer?
        do {
            body = try await send(token.registryRequest, retry: &retry) { response -> ByteBuffer? in
                if token.getFallback != nil, response.status == .notFound || response.status == .methodNotAllowed {
                    await discardBody(response)
                    return nil
                }
                return try await self.tokenBody(response, token: token, realm: realmText)
            }
            if body == nil, let fallback = token.getFallback {
                logger.debug("the realm refused the refresh-token POST; asking with GET", metadata: ["realm": "\(realmText)"])
                body = try await send(fallback, retry: &retry) { response in try await self.tokenBody(response, token: token, realm: realmText) }
            }
        } catch let error as RegistryError where error.isDeliveryFailure {
            let last = retry.lastFailure
            let attempts = retry.attempts > 1 ? "after \(retry.attempts) attempts" : ""
            let detail = last.map { $0.status == nil ? $0.description : $0.detail } ?? error.message
            throw RegistryError.tokenRequestFailed(
                realm: realmText, status: last?.status, detail: [detail, attempts].filter { !$0.isEmpty }.joined(separator: ", "))
        }
        return try decodeToken(body ?? ByteBuffer(), token: token, realm: realmText)
    }

    /// The body of a token answer, or the error its status says.
    private func tokenBody(_ response: HTTPClientResponse, token: TokenRequest, realm realmText: String) async throws -> ByteBuffer {
        let body = try await collect(response, upTo: 1024 * 1024, what: "token answer")
        guard response.status == .ok else {
            if response.status == .unauthorized || response.status == .forbidden {
                let detail: String = token.credential.map { "the token server rejected \($0.credential) from \($0.origin)" } ?? "the token server requires credentials"
                throw RegistryError.unauthorized(repository: token.repository, registry: token.registry, detail: detail, hadCredentials: token.credential != nil)
            }
            throw RegistryError.tokenRequestFailed(realm: realmText, status: Int(response.status.code), detail: Self.errorSummary(body))
        }
        return body
    }

    /// The token of a realm's answer: `token`, else `access_token` (the
    /// OAuth2 name); used until ``TokenLifetime`` says to renew it.
    /// `issued_at` is not read (see ``TokenLifetime/renewal(expiresIn:received:)``).
    private func decodeToken(_ body: ByteBuffer, token: TokenRequest, realm realmText: String) throws -> AuthSession.IssuedToken {
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)),
              let value = [decoded.token, decoded.access_token].compactMap({ $0 }).first(where: { !$0.isEmpty })
        else {
            throw RegistryError.tokenRequestFailed(realm: realmText, status: 200, detail: "the answer has no token")
        }
        configuration.redactor?.register(value)
        let expires: ContinuousClock.Instant = TokenLifetime.renewal(expiresIn: decoded.expires_in, received: .now)
        return AuthSession.IssuedToken(header: "Bearer \(value)", expires: expires, fromCredentials: token.credential != nil)
    }
}
