import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
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
        var items: [URLQueryItem] = []
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        items.append(URLQueryItem(name: "scope", value: scope))
        if case .identityToken(let refreshToken)? = credential?.credential {
            var request = RegistryRequest(.POST, realm.absoluteString, authentication: .tokenRealm(nil))
            var form = URLComponents()
            form.queryItems = items + [
                URLQueryItem(name: "grant_type", value: "refresh_token"),
                URLQueryItem(name: "refresh_token", value: refreshToken),
                URLQueryItem(name: "client_id", value: "hocker"),
            ]
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = ByteBuffer(string: (form.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B"))
            request.bodyCarriesCredential = true
            return request
        }
        var components = URLComponents(url: realm, resolvingAgainstBaseURL: false) ?? URLComponents()
        components.queryItems = (components.queryItems ?? []) + items
        return RegistryRequest(.GET, components.string ?? realm.absoluteString, authentication: .tokenRealm(credential))
    }
}

extension RegistryClient {
    /// Asks a realm for a token, through the request path (retries, the
    /// credential rule). Its final failure is reported as a token failure.
    func requestToken(_ token: TokenRequest) async throws -> AuthSession.IssuedToken {
        let realmText = token.realm.absoluteString
        logger.debug("token request", metadata: ["realm": "\(realmText)", "scope": "\(token.scope)"])
        var retry = makeRetryBudget()
        let body: ByteBuffer
        do {
            body = try await send(token.registryRequest, retry: &retry) { response in
                let body = try await Self.collect(response, upTo: 1024 * 1024, what: "token answer")
                guard response.status == .ok else {
                    if response.status == .unauthorized || response.status == .forbidden {
                        throw RegistryError.unauthorized(
                            repository: token.repository, registry: token.registry,
                            detail: token.credential.map { "the token server rejected \($0.credential) from \($0.origin)" } ?? "the token server requires credentials",
                            hadCredentials: token.credential != nil)
                    }
                    throw RegistryError.tokenRequestFailed(realm: realmText, status: Int(response.status.code), detail: Self.errorSummary(body))
                }
                return body
            }
        } catch let error as RegistryError where error.isDeliveryFailure {
            let last = retry.lastFailure
            let attempts = retry.attempts > 1 ? "after \(retry.attempts) attempts" : ""
            let detail = last.map { $0.status == nil ? $0.description : $0.detail } ?? error.message
            throw RegistryError.tokenRequestFailed(
                realm: realmText, status: last?.status, detail: [detail, attempts].filter { !$0.isEmpty }.joined(separator: ", "))
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)),
              let value = decoded.token ?? decoded.access_token, !value.isEmpty
        else {
            throw RegistryError.tokenRequestFailed(realm: realmText, status: 200, detail: "the answer has no token")
        }
        configuration.redactor?.register(value)
        // The spec's floor is 60 s; renew a little before the registry would refuse it.
        let lifetime = max(decoded.expires_in ?? 60, 60)
        return AuthSession.IssuedToken(header: "Bearer \(value)", expires: .now + .seconds(lifetime - 5), fromCredentials: token.credential != nil)
    }
}
