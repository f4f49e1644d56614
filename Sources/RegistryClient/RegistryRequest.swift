import NIOCore
import NIOHTTP1

/// One request to send through ``RegistryClient``'s request path.
struct RegistryRequest: Sendable {
    /// Who the request authenticates as.
    enum Authentication: Sendable {
        /// A Distribution API request for `repository`: it carries the user's
        /// bearer token, or whatever the registry's challenge asks for (a
        /// 401 is answered once).
        case registry(repository: String)
        /// A request to a token realm, carrying this credential (Basic in the
        /// header, or a refresh token in the body) or none.
        case tokenRealm(ResolvedCredential?)
        /// No credential of any kind, and a 401 is an answer like any other:
        /// the `GET /v2/` ping, and a foreign layer's own URLs.
        case anonymous
    }

    var method: HTTPMethod
    var url: String
    var headers: HTTPHeaders = [:]
    /// A form body (token requests with a refresh token).
    var body: ByteBuffer?
    var authentication: Authentication

    /// Whether `body` holds a credential, so the credential rule applies to
    /// the request even without an `Authorization` header.
    var bodyCarriesCredential = false

    init(_ method: HTTPMethod, _ url: String, headers: HTTPHeaders = [:], authentication: Authentication) {
        self.method = method
        self.url = url
        self.headers = headers
        self.authentication = authentication
    }
}

/// A response body that broke off while it was being read: the request
/// path retries it like a failed connection, within the same budget.
struct TransferInterrupted: Error {
    var failure: AttemptFailure
}
