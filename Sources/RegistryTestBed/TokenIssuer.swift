import Crypto
import Foundation
import NIOConcurrencyHelpers

/// One entry of a token's `access` claim.
public struct TokenAccess: Sendable, Hashable, Codable {
    /// The resource type, e.g. `repository` or `registry`.
    public var type: String
    /// The resource name, e.g. the repository name.
    public var name: String
    /// The granted actions, e.g. `["pull", "push"]`.
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }
}

/// What the ``TokenServer`` saw and answered for one request.
public struct TokenRequestRecord: Sendable {
    /// The HTTP method (`GET` for the token spec, `POST` for the OAuth2 form).
    public var method: String
    /// The request path and query.
    public var uri: String
    /// The authenticated user, `nil` for anonymous (or rejected) callers.
    public var user: String?
    /// Whether the request carried credentials (even wrong ones).
    public var sentCredentials: Bool
    /// The `service` parameter, if any.
    public var service: String?
    /// Every requested scope, as sent.
    public var scopes: [String]
    /// What the issued token grants (empty when no token was issued).
    public var granted: [TokenAccess]
    /// The HTTP status answered.
    public var status: Int
}

/// Mutable bookkeeping of the token server.
struct TokenServerState: Sendable {
    var records: [TokenRequestRecord] = []
}

/// What the token server answers, independent of NIO: it checks the
/// caller, applies the policy and signs the token. Pure but for the
/// record of requests it keeps.
final class TokenIssuer: Sendable {
    let policy: TokenPolicy
    let signingKey: TokenSigningKey
    let privateKey: P256.Signing.PrivateKey
    let service: String
    let issuer: String
    let state = NIOLockedValueBox(TokenServerState())

    init(policy: TokenPolicy, signingKey: TokenSigningKey, privateKey: P256.Signing.PrivateKey, service: String, issuer: String) {
        self.policy = policy
        self.signingKey = signingKey
        self.privateKey = privateKey
        self.service = service
        self.issuer = issuer
    }

    /// An HTTP answer: status, JSON body, extra headers.
    struct Answer {
        var status: Int
        var body: Data
        var headers: [(String, String)] = []
    }

    /// Handles one complete request.
    func handle(method: String, uri: String, authorization: String?, body: Data) -> Answer {
        var record = TokenRequestRecord(
            method: method, uri: uri, user: nil, sentCredentials: false, service: nil, scopes: [], granted: [], status: 0)
        let answer = respond(method: method, uri: uri, authorization: authorization, body: body, record: &record)
        record.status = answer.status
        state.withLockedValue { $0.records.append(record) }
        return answer
    }

    private func respond(method: String, uri: String, authorization: String?, body: Data, record: inout TokenRequestRecord) -> Answer {
        let pathAndQuery = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pathAndQuery.first ?? "")
        guard path == "/token" || path == "/token/" else {
            return errorAnswer(404, code: "NOT_FOUND", "no such endpoint \(path); the token endpoint is /token")
        }
        let parameters: [(String, String)]
        var user: TokenUser?
        switch method {
        case "GET":
            parameters = pathAndQuery.count > 1 ? parseForm(String(pathAndQuery[1])) : []
            if let authorization {
                record.sentCredentials = true
                guard let (name, password) = parseBasic(authorization) else {
                    return unauthorized("the Authorization header is not valid HTTP Basic")
                }
                if let identityName = policy.identityTokenUsername, name == identityName {
                    guard let known = policy.user(refreshToken: password) else { return unauthorized("unknown identity token") }
                    user = known
                } else {
                    guard let known = policy.authenticate(name: name, password: password) else {
                        return unauthorized("invalid username or password for '\(name)'")
                    }
                    user = known
                }
            }
        case "POST" where policy.refusesPOST != nil:
            return errorAnswer(policy.refusesPOST ?? 405, code: "UNSUPPORTED", "POST is not supported on /token")
        case "POST":
            parameters = parseForm(String(decoding: body, as: UTF8.self))
            record.sentCredentials = true
            switch value("grant_type", in: parameters) {
            case "password":
                let name = value("username", in: parameters) ?? ""
                let password = value("password", in: parameters) ?? ""
                guard let known = policy.authenticate(name: name, password: password) else {
                    return unauthorized("invalid username or password for '\(name)'")
                }
                user = known
            case "refresh_token":
                // What docker sends for the identity token `docker login` stored.
                guard let known = policy.user(refreshToken: value("refresh_token", in: parameters) ?? "") else {
                    return unauthorized("unknown refresh token")
                }
                user = known
            case let grant:
                return errorAnswer(400, code: "unsupported_grant_type", "grant_type=password or refresh_token, got \(grant ?? "none")")
            }
        default:
            return errorAnswer(405, code: "UNSUPPORTED", "method \(method) not allowed on /token")
        }

        record.user = user?.name
        let requestedService = value("service", in: parameters)
        record.service = requestedService
        if let requestedService, requestedService != service {
            return errorAnswer(400, code: "INVALID_SERVICE", "unknown service '\(requestedService)'; this token server serves '\(service)'")
        }
        let scopes = parameters.filter { $0.0 == "scope" }.flatMap { $0.1.split(separator: " ").map(String.init) }
        record.scopes = scopes
        let access = grant(scopes: scopes, user: user)
        record.granted = access

        let now = Date()
        let token: String
        do {
            token = try makeJWT(subject: user?.name ?? "", access: access, expiresIn: policy.expiresIn, now: now)
        } catch {
            return errorAnswer(500, code: "SIGNING_FAILED", "could not sign the token: \(error)")
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var response: [String: Any] = [:]
        if policy.answer.fields != .accessTokenOnly { response["token"] = token }
        if policy.answer.fields != .tokenOnly { response["access_token"] = token }
        switch policy.answer.expiresIn {
        case .lifetime: response["expires_in"] = policy.expiresIn
        case .absent: break
        case .seconds(let seconds): response["expires_in"] = seconds
        }
        switch policy.answer.issuedAt {
        case .now: response["issued_at"] = formatter.string(from: now)
        case .absent: break
        case .ahead(let seconds): response["issued_at"] = formatter.string(from: now.addingTimeInterval(TimeInterval(seconds)))
        }
        let data = (try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys])) ?? Data()
        return Answer(status: 200, body: data)
    }

    /// The access granted for `scopes`: the requested actions the policy allows, merged per resource.
    func grant(scopes: [String], user: TokenUser?) -> [TokenAccess] {
        var granted: [TokenAccess] = []
        for scope in scopes {
            let parts = scope.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3 else { continue }
            let type = parts[0]
            let name = parts[1..<(parts.count - 1)].joined(separator: ":")
            let requested = parts[parts.count - 1].split(separator: ",").map(String.init)
            let allowed: Set<String>
            if type == "repository" || type.hasPrefix("repository(") {
                allowed = policy.allowedActions(user: user, repository: name)
            } else if type == "registry" && name == "catalog" && user != nil {
                allowed = ["*"]
            } else {
                allowed = []
            }
            let actions = requested.filter { allowed.contains($0) }
            guard !actions.isEmpty else { continue }
            if let index = granted.firstIndex(where: { $0.type == type && $0.name == name }) {
                for action in actions where !granted[index].actions.contains(action) {
                    granted[index].actions.append(action)
                }
            } else {
                granted.append(TokenAccess(type: type, name: name, actions: actions))
            }
        }
        return granted
    }

    private struct Header: Encodable {
        var alg = "ES256"
        var typ = "JWT"
        var x5c: [String]
    }

    private struct Claims: Encodable {
        var iss: String
        var sub: String
        var aud: String
        var exp: Int
        var nbf: Int
        var iat: Int
        var jti: String
        var access: [TokenAccess]
    }

    /// A compact ES256 JWS: `base64url(header).base64url(claims).base64url(r||s)`.
    func makeJWT(subject: String, access: [TokenAccess], expiresIn: Int, now: Date) throws -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        let header = Header(x5c: [signingKey.certificateDERBase64])
        let claims = Claims(
            iss: issuer, sub: subject, aud: service, exp: issuedAt + expiresIn, nbf: issuedAt, iat: issuedAt,
            jti: UUID().uuidString.lowercased(), access: access)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let signingInput = base64URL(try encoder.encode(header)) + "." + base64URL(try encoder.encode(claims))
        let signature = try privateKey.signature(for: Data(signingInput.utf8))
        return signingInput + "." + base64URL(signature.rawRepresentation)
    }

    private func unauthorized(_ message: String) -> Answer {
        var answer = errorAnswer(401, code: "UNAUTHORIZED", message)
        answer.headers.append(("WWW-Authenticate", "Basic realm=\"hocker-test-token-server\""))
        return answer
    }

    private func errorAnswer(_ status: Int, code: String, _ message: String) -> Answer {
        let payload: [String: Any] = ["errors": [["code": code, "message": message]]]
        let data = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data()
        return Answer(status: status, body: data)
    }
}

/// Base64url without padding (RFC 7515 §2).
func base64URL(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// Decodes `application/x-www-form-urlencoded` text (also used for query strings).
func parseForm(_ text: String) -> [(String, String)] {
    text.split(separator: "&").map { pair in
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func decode(_ part: Substring) -> String {
            let spaced = part.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
    }
}

/// The first value of `name` in decoded form parameters.
func value(_ name: String, in parameters: [(String, String)]) -> String? {
    parameters.first { $0.0 == name }?.1
}

/// User and password from an `Authorization: Basic …` header value.
func parseBasic(_ header: String) -> (String, String)? {
    let parts = header.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "basic",
        let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
        let text = String(data: decoded, encoding: .utf8),
        let colon = text.firstIndex(of: ":")
    else { return nil }
    return (String(text[..<colon]), String(text[text.index(after: colon)...]))
}

