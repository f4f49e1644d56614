#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Challenges and tokens: what the registry asks of a request, and what its
// token endpoint issues.

extension InProcessRegistry {
    /// The realm Bearer challenges name.
    func realm(_ auth: RegistryAuth) -> String {
        switch auth.realm {
        case .main: baseURL + "/token"
        case .other: otherBaseURL + "/token"
        case .url(let url): url
        }
    }

    /// Whether `request` for `repository` (empty for `/v2/`) may be
    /// answered, or the challenge its 401 carries.
    func authorize(_ request: SeenRequest, repository: String, state: inout RegistryState) -> AuthDecision {
        let auth = state.auth
        switch auth.scheme {
        case .open:
            return .allowed
        case .basic:
            return auth.acceptsBasic(request.authorization) ? .allowed : .challenge("Basic realm=\"in-process-registry\"")
        case .bearer:
            var challenge = "Bearer realm=\"\(realm(auth))\""
            if let service = auth.service { challenge += ",service=\"\(service)\"" }
            if !repository.isEmpty { challenge += ",scope=\"repository:\(repository):pull\"" }
            guard let header = request.authorization, header.hasPrefix("Bearer ") else { return .challenge(challenge) }
            let value = String(header.dropFirst("Bearer ".count))
            guard let token = state.tokens[value], token.expires.map({ ContinuousClock.now < $0 }) ?? true else {
                state.tokens[value] = nil
                return .challenge(challenge + ",error=\"invalid_token\"")
            }
            guard repository.isEmpty || token.pullable.contains(repository) else {
                return .challenge(challenge + ",error=\"insufficient_scope\"")
            }
            return .allowed
        }
    }

    /// The token endpoint: `GET /token?service=…&scope=…`, Basic checked
    /// against the users; an anonymous client gets a token that pulls only
    /// when anonymous pulls are allowed.
    func token(_ request: SeenRequest, state: inout RegistryState) -> Reply {
        guard request.method == "GET" else {
            return Self.errorReply(405, code: "UNSUPPORTED", message: "the token endpoint takes GET")
        }
        let auth = state.auth
        var subject: String?
        if let header = request.authorization {
            guard auth.acceptsBasic(header), let pair = RegistryAuth.basicPair(header) else {
                return Self.errorReply(401, code: "UNAUTHORIZED", message: "invalid username or password")
            }
            subject = pair.user
        }
        let scopes = request.query.filter { $0.name == "scope" }.map(\.value)
        var pullable: Set<String> = []
        if subject != nil || auth.anonymousPull {
            for scope in scopes.flatMap({ $0.split(separator: " ") }) {
                // repository:NAME:ACTIONS, the name itself free of colons.
                let parts = scope.split(separator: ":")
                guard parts.count == 3, parts[0] == "repository", parts[2].split(separator: ",").contains("pull") else { continue }
                pullable.insert(String(parts[1]))
            }
        }
        let value = UUID().uuidString.lowercased()
        let lifetime = auth.lifetime ?? auth.expiresIn.map { Duration.seconds($0) }
        let issued = IssuedToken(
            token: value, subject: subject, service: request.query.first { $0.name == "service" }?.value, scopes: scopes,
            pullable: pullable, expires: lifetime.map { ContinuousClock.now + $0 })
        state.tokens[value] = issued
        state.issued.append(issued)
        struct Answer: Encodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
            var issued_at: String
        }
        let answer = Answer(
            token: auth.tokenField == .accessTokenOnly ? nil : value, access_token: auth.tokenField == .tokenOnly ? nil : value,
            expires_in: auth.expiresIn, issued_at: "1970-01-01T00:00:00Z")
        return Reply(status: 200, headers: [("Content-Type", "application/json")], body: encodeJSON(answer))
    }
}
