#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How an ``InProcessRegistry`` authenticates requests to its API.
public struct RegistryAuth: Sendable {
    public enum Scheme: Sendable, Hashable {
        /// Anyone may pull.
        case open
        /// `Basic` with one of ``users``.
        case basic
        /// `Bearer` tokens from the registry's token endpoint, which takes
        /// `Basic` with one of ``users`` or nothing (anonymous).
        case bearer
    }

    /// Where a Bearer challenge's realm points.
    public enum Realm: Sendable, Hashable {
        /// `/token` on the main listener.
        case main
        /// `/token` on the other listener: another origin.
        case other
        /// This URL, as it is (a host name that need not resolve).
        case url(String)
    }

    public var scheme: Scheme
    /// Username → password.
    public var users: [String: String]
    /// Whether a client with no credentials may pull (for Bearer: whether an
    /// anonymous token grants pull).
    public var anonymousPull: Bool
    /// The `service` of the challenge; nil leaves it out.
    public var service: String?
    public var realm: Realm
    /// The token answer's `expires_in`; nil leaves it out.
    public var expiresIn: Int?
    /// How long the registry accepts a token; nil for `expiresIn` seconds
    /// (or for ever without it). See also ``InProcessRegistry/expireTokens()``.
    public var lifetime: Duration?
    /// Which names a token answer carries the token under.
    public var tokenField: TokenAnswer.Fields

    public init(
        scheme: Scheme, users: [String: String] = [:], anonymousPull: Bool = true, service: String? = "in-process-registry",
        realm: Realm = .main, expiresIn: Int? = 300, lifetime: Duration? = nil, tokenField: TokenAnswer.Fields = .tokenOnly
    ) {
        self.scheme = scheme
        self.users = users
        self.anonymousPull = anonymousPull
        self.service = service
        self.realm = realm
        self.expiresIn = expiresIn
        self.lifetime = lifetime
        self.tokenField = tokenField
    }

    /// No authentication.
    public static let open = RegistryAuth(scheme: .open)

    /// `Basic` for `username`/`password`; anonymous clients get 401.
    public static func basic(username: String, password: String) -> RegistryAuth {
        RegistryAuth(scheme: .basic, users: [username: password], anonymousPull: false)
    }

    /// Bearer tokens, anonymous pulls allowed unless `users` is given.
    public static func bearer(users: [String: String] = [:]) -> RegistryAuth {
        RegistryAuth(scheme: .bearer, users: users, anonymousPull: users.isEmpty)
    }
}

/// A token the registry issued.
public struct IssuedToken: Sendable {
    public var token: String
    /// The user it was issued to; nil for an anonymous client.
    public var subject: String?
    /// `service` as asked.
    public var service: String?
    /// Every `scope` asked for, as asked.
    public var scopes: [String]
    /// The repositories it may pull.
    public var pullable: Set<String>
    /// When the registry stops accepting it.
    public var expires: ContinuousClock.Instant?
}

/// The registry's decision on a request's `Authorization`.
enum AuthDecision {
    case allowed
    /// 401 with this challenge.
    case challenge(String)
}

extension RegistryAuth {
    /// Parses `Basic base64(user:password)`; nil when it is not that.
    static func basicPair(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingWhitespaceAtEnds()),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Whether `header` is Basic with one of the users.
    func acceptsBasic(_ header: String?) -> Bool {
        guard let (user, password) = Self.basicPair(header) else { return false }
        return users[user] == password
    }
}

extension String {
    func trimmingWhitespaceAtEnds() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
