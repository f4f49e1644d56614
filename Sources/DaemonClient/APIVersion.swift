/// A Docker Engine API version, `MAJOR.MINOR` (`1.41`).
public struct APIVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `1.41`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        self.init(major, minor)
    }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: APIVersion, rhs: APIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// The oldest API hocker speaks: docker 1.12's, which has every
    /// endpoint it uses (`/images/load?quiet`, `/images/{id}/json`,
    /// `/images/{id}/tag`) with today's meaning.
    public static let oldestSupported = APIVersion(1, 24)
    /// The newest API hocker asks for: docker 28's. A newer daemon is asked
    /// in this version (daemons keep old versions for years); an older one
    /// in its own, as docker's client negotiates.
    public static let newestSupported = APIVersion(1, 51)

    /// The version to ask a daemon in, from what it says it speaks: its own
    /// version, capped at ``newestSupported``; nil when that is older than
    /// ``oldestSupported`` or younger than the oldest the daemon still
    /// accepts (`minimum`, from `/version`'s `MinAPIVersion`).
    public static func negotiate(daemon: APIVersion, minimum: APIVersion?) -> APIVersion? {
        let chosen = min(daemon, newestSupported)
        guard chosen >= oldestSupported else { return nil }
        if let minimum, chosen < minimum { return nil }
        return chosen
    }
}

/// Which daemon answers, as `/version` describes it.
public struct DaemonInfo: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case docker
        case podman
        /// Another daemon that speaks the Docker Engine API.
        case other = "daemon"
    }

    public var kind: Kind
    /// The daemon's own version (`20.10.24+dfsg1`, `4.3.1`), empty when it does not say.
    public var version: String
    /// The newest API version it speaks.
    public var apiVersion: APIVersion
    /// The oldest API version it still accepts, when it says.
    public var minimumAPIVersion: APIVersion?
    /// The version requests are made in (`/v<version>/…`).
    public var negotiated: APIVersion

    public init(kind: Kind, version: String, apiVersion: APIVersion, minimumAPIVersion: APIVersion?, negotiated: APIVersion) {
        self.kind = kind
        self.version = version
        self.apiVersion = apiVersion
        self.minimumAPIVersion = minimumAPIVersion
        self.negotiated = negotiated
    }

    /// `docker 20.10.24+dfsg1`, `podman 4.3.1`.
    public var description: String {
        version.isEmpty ? "\(kind.rawValue) (API \(apiVersion))" : "\(kind.rawValue) \(version)"
    }
}
