import Foundation

/// A user known to the ``TokenServer``.
public struct TokenUser: Sendable, Hashable {
    /// The user name sent with HTTP Basic on the token request.
    public var name: String
    /// The password sent with HTTP Basic on the token request.
    public var password: String
    /// Repository-name prefixes this user may pull from and push to (and delete in).
    /// The empty prefix `""` matches every repository.
    public var pullPushPrefixes: [String]

    public init(name: String, password: String, pullPushPrefixes: [String]) {
        self.name = name
        self.password = password
        self.pullPushPrefixes = pullPushPrefixes
    }
}

/// The shape of a token answer, as token services differ in it.
public struct TokenAnswer: Sendable, Hashable {
    /// Which of the two names the token is sent under.
    public enum Fields: Sendable, Hashable {
        /// `token` and `access_token` (distribution's token server, Docker Hub).
        case both
        /// `token` only (GHCR, Quay).
        case tokenOnly
        /// `access_token` only (the OAuth2 form).
        case accessTokenOnly
    }

    /// What `expires_in` says.
    public enum ExpiresIn: Sendable, Hashable {
        /// The policy's lifetime.
        case lifetime
        /// Not sent (the spec: 60 s).
        case absent
        /// This many seconds, whatever the token's real lifetime.
        case seconds(Int)
    }

    /// What `issued_at` says.
    public enum IssuedAt: Sendable, Hashable {
        /// The moment of the answer.
        case now
        /// Not sent.
        case absent
        /// This many seconds ahead (the issuer's clock is fast).
        case ahead(seconds: Int)
    }

    public var fields: Fields
    public var expiresIn: ExpiresIn
    public var issuedAt: IssuedAt

    public init(fields: Fields = .both, expiresIn: ExpiresIn = .lifetime, issuedAt: IssuedAt = .now) {
        self.fields = fields
        self.expiresIn = expiresIn
        self.issuedAt = issuedAt
    }
}

/// Who gets which access from a ``TokenServer``.
///
/// - Anyone, including anonymous callers, gets `pull` on repositories whose name
///   starts with one of ``anonymousPullPrefixes``.
/// - A user authenticating with HTTP Basic additionally gets `pull`, `push` and
///   `delete` (and `*`) on repositories under their ``TokenUser/pullPushPrefixes``.
/// - A wrong password (or unknown user) gets a 401 JSON error, never a token.
/// - Anything else is simply left out of the token's `access` claim (as real token
///   servers do), so the registry then answers 401/403 itself.
public struct TokenPolicy: Sendable {
    /// The built-in user that may push anywhere; ``TestRegistry/pushCredentials`` returns it.
    public static let pushUser = TokenUser(name: "hocker-pusher", password: "hocker-pusher-secret", pullPushPrefixes: [""])

    /// Repository-name prefixes anyone may pull.
    public var anonymousPullPrefixes: [String]
    /// The users that may authenticate; includes ``pushUser`` unless disabled at init.
    public var users: [TokenUser]
    /// Lifetime of issued tokens in seconds (`expires_in` and the JWT `exp`).
    ///
    /// Note: distribution 2.8 accepts tokens up to 60 s past `exp` (clock-skew leeway),
    /// so short lifetimes only show up in what clients do, not in registry rejections.
    public var expiresIn: Int
    /// Refresh tokens (the identity tokens `docker login` stores) and the
    /// user each stands for, for the `grant_type=refresh_token` POST.
    public var refreshTokens: [String: String] = [:]
    /// How token answers are shaped.
    public var answer = TokenAnswer()
    /// The status a `POST` to the realm gets, when it does not take them
    /// (404 or 405: a realm that serves the token spec's GET only).
    public var refusesPOST: Int?
    /// The user name that, with HTTP Basic on a GET, says the password is a
    /// refresh token (ACR: `00000000-0000-0000-0000-000000000000`).
    public var identityTokenUsername: String?

    /// - Parameters:
    ///   - anonymousPullPrefixes: prefixes anyone may pull, e.g. `["public/"]`.
    ///   - users: authenticated users and their pull/push prefixes.
    ///   - expiresIn: token lifetime in seconds (default 300).
    ///   - includePushUser: add ``pushUser`` (push everywhere) so tests can seed images.
    public init(
        anonymousPullPrefixes: [String] = [],
        users: [TokenUser] = [],
        expiresIn: Int = 300,
        includePushUser: Bool = true
    ) {
        self.anonymousPullPrefixes = anonymousPullPrefixes
        self.users = users
        if includePushUser && !users.contains(where: { $0.name == Self.pushUser.name }) {
            self.users.append(Self.pushUser)
        }
        self.expiresIn = expiresIn
    }

    /// The actions `user` (nil: anonymous) may perform on `repository`.
    public func allowedActions(user: TokenUser?, repository: String) -> Set<String> {
        var allowed = Set<String>()
        if anonymousPullPrefixes.contains(where: { repository.hasPrefix($0) }) {
            allowed.insert("pull")
        }
        if let user, user.pullPushPrefixes.contains(where: { repository.hasPrefix($0) }) {
            allowed.formUnion(["pull", "push", "delete", "*"])
        }
        return allowed
    }

    /// The user a refresh token stands for, `nil` when it is unknown.
    func user(refreshToken: String) -> TokenUser? {
        refreshTokens[refreshToken].flatMap { name in users.first { $0.name == name } }
    }

    /// The user with `name` if `password` matches, `nil` otherwise.
    func authenticate(name: String, password: String) -> TokenUser? {
        users.first { $0.name == name && $0.password == password }
    }
}
