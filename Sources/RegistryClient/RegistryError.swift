import ImageReference

/// What went wrong talking to a registry, or writing what it sent, with a
/// message that names the image, registry, URL or file it is about.
public enum RegistryError: UserFacingError {
    /// The registry does not have this tag or digest in the repository.
    case manifestUnknown(image: String, registry: String)
    /// The registry does not know the repository at all.
    case repositoryUnknown(repository: String, registry: String)
    /// The registry does not have this blob in the repository.
    case blobUnknown(digest: Digest, repository: String, registry: String)
    /// 401 after authenticating (or with no credentials to authenticate with).
    case unauthorized(repository: String, registry: String, detail: String, hadCredentials: Bool)
    /// 403: the credentials are valid but not enough.
    case denied(repository: String, registry: String, detail: String)
    /// The token server refused or failed.
    case tokenRequestFailed(realm: String, status: Int?, detail: String)
    /// An unexpected HTTP status.
    case unexpectedStatus(Int, url: String, detail: String)
    /// Too many failed attempts in a row.
    case gaveUp(url: String, attempts: Int, last: String)
    /// Connecting or reading failed, and no retry could help.
    case transport(url: String, detail: String)
    /// The run's time limit (`--max-time`) passed before the request succeeded.
    case timeLimitReached(url: String, limit: Duration, last: String)
    /// Redirects that come back to a URL already visited, or more than ten.
    case redirectLoop(url: String)
    /// Bytes whose digest is not the one they were asked for by.
    case digestMismatch(what: String, expected: Digest, actual: Digest)
    /// More or fewer bytes than the descriptor says.
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    /// A manifest (or a blob read into memory) over the size cap, in bytes.
    case tooLarge(what: String, limit: Int)
    /// A credential helper failed.
    case credentialHelper(name: String, detail: String)
    /// Credentials would go over plain http to a host that is not loopback.
    case insecureCredentials(host: String)
    /// Writing what the registry sent failed.
    case cannotWrite(path: String, detail: String)

    public var message: String {
        switch self {
        case .manifestUnknown(let image, let registry):
            "manifest unknown: \(image) at \(registry)"
        case .repositoryUnknown(let repository, let registry):
            "repository unknown: \(repository) at \(registry)"
        case .blobUnknown(let digest, let repository, let registry):
            "blob unknown: \(digest) in \(repository) at \(registry)"
        case .unauthorized(let repository, let registry, let detail, _):
            "unauthorized: \(repository) at \(registry)\(detail.isEmpty ? "" : ": \(detail)")"
        case .denied(let repository, let registry, let detail):
            "denied: \(repository) at \(registry)\(detail.isEmpty ? "" : ": \(detail)")"
        case .tokenRequestFailed(let realm, let status, let detail):
            "token request to \(realm) failed\(status.map { " with HTTP \($0)" } ?? "")\(detail.isEmpty ? "" : ": \(detail)")"
        case .unexpectedStatus(let status, let url, let detail):
            "unexpected HTTP \(status) from \(url)\(detail.isEmpty ? "" : ": \(detail)")"
        case .gaveUp(let url, let attempts, let last):
            "gave up on \(url) after \(attempts) attempts: \(last)"
        case .transport(let url, let detail):
            "cannot reach \(url): \(detail)"
        case .timeLimitReached(let url, let limit, let last):
            "gave up on \(url) within the time limit of \(limit.wholeSeconds) s\(last.isEmpty ? "" : " (last: \(last))")"
        case .redirectLoop(let url):
            "cannot reach \(url): the registry redirected in a loop"
        case .digestMismatch(let what, let expected, let actual):
            "digest mismatch for \(what): expected \(expected), got \(actual)"
        case .sizeMismatch(let what, let expected, let actual):
            "size mismatch for \(what): expected \(expected) bytes, got \(actual)"
        case .tooLarge(let what, let limit):
            "\(what) refused: larger than \(limit / 1024 / 1024) MiB"
        case .credentialHelper(let name, let detail):
            "credential helper docker-credential-\(name) failed: \(detail)"
        case .insecureCredentials(let host):
            "refusing to send credentials over plain http to \(host)"
        case .cannotWrite(let path, let detail):
            "cannot write \(path): \(detail)"
        }
    }

    public var hints: [String] {
        switch self {
        case .manifestUnknown:
            ["check the tag (or digest): the repository has no such manifest"]
        case .repositoryUnknown(_, let registry) where ImageReference.canonicalRegistry(registry) == ImageReference.dockerHub:
            ["check the image name; Docker Hub official images live under library/ (library/debian)"]
        case .repositoryUnknown(let repository, let registry):
            ["check the image name: \(registry) has no repository \(repository) (its tag list says so)"]
        case .blobUnknown:
            ["check the digest; one taken from an older manifest may name a blob the registry no longer keeps (re-resolve the tag)"]
        case .unauthorized(_, _, _, let hadCredentials):
            hadCredentials
                ? ["check the username and password (or token) for this registry"]
                : ["the repository may not exist, or it needs credentials: --username/--password, --token, --credentials-file or --authfile"]
        case .denied:
            ["the credentials are valid but do not grant pull access to this repository"]
        case .insecureCredentials:
            ["use https, or pass --insecure if the network between you and the registry is trusted"]
        case .transport, .gaveUp:
            ["check the registry URI and the network (HTTPS_PROXY/NO_PROXY are honoured)"]
        case .timeLimitReached:
            ["allow more time with --max-time SECONDS, or try again later"]
        default:
            []
        }
    }

    /// Whether the error says the request could not be completed at all
    /// (the network, the retries, the time limit), rather than what the
    /// registry answered.
    var isDeliveryFailure: Bool {
        switch self {
        case .gaveUp, .transport, .timeLimitReached: true
        default: false
        }
    }
}

extension ImageReference {
    /// `repository:tag`, or `repository@digest` when pinned: the image as
    /// messages name it within its registry.
    public var repositoryReference: String {
        if let digest { return "\(repository)@\(digest)" }
        return "\(repository):\(tag ?? "latest")"
    }
}
