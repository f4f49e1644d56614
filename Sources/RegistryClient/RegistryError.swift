import ImageReference

/// What went wrong talking to a registry, with a message a user can act on.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// The registry does not have this tag or digest in the repository.
    case manifestUnknown(repository: String, reference: String, registry: String)
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
    /// Too many 429 or 5xx answers in a row.
    case gaveUp(url: String, attempts: Int, last: String)
    /// Connecting or reading failed.
    case transport(url: String, detail: String)
    /// The run's time limit (`--max-time`) passed before the request succeeded.
    case timeLimitReached(url: String, limit: Duration, last: String)
    /// Bytes whose SHA-256 is not the digest they were asked for by.
    case digestMismatch(what: String, expected: Digest, actual: Digest)
    /// More or fewer bytes than the descriptor says.
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    /// A manifest over the size cap.
    case manifestTooLarge(limit: Int)
    /// A manifest that does not parse or fails validation.
    case invalidManifest(String)
    /// A manifest format hocker does not read.
    case unsupportedManifest(String, reason: String)
    /// An index with no manifest for the requested platform.
    case noMatchingPlatform(requested: Platform, available: [Platform], reference: String)
    /// A credential helper failed.
    case credentialHelper(name: String, detail: String)
    /// Credentials would go over plain http to a host that is not loopback.
    case insecureCredentials(registry: String)
    /// Writing a downloaded blob failed.
    case io(path: String, detail: String)

    /// `repository:tag` or `repository@digest`. A digest always has a colon and
    /// a tag never can (a tag may well start with "sha", as `sha-860c190`).
    static func imageName(_ repository: String, _ reference: String) -> String {
        repository + (reference.contains(":") ? "@" : ":") + reference
    }

    public var description: String {
        switch self {
        case .manifestUnknown(let repository, let reference, let registry):
            "manifest unknown: \(Self.imageName(repository, reference)) at \(registry)"
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
        case .digestMismatch(let what, let expected, let actual):
            "digest mismatch for \(what): expected \(expected), got \(actual)"
        case .sizeMismatch(let what, let expected, let actual):
            "size mismatch for \(what): expected \(expected) bytes, got \(actual)"
        case .manifestTooLarge(let limit):
            "manifest refused: larger than \(limit / 1024 / 1024) MiB"
        case .invalidManifest(let reason):
            "invalid manifest: \(reason)"
        case .unsupportedManifest(let type, let reason):
            "unsupported manifest type \(type): \(reason)"
        case .noMatchingPlatform(let requested, let available, let reference):
            "no image for platform \(requested) in \(reference); it has: \(available.map(\.description).joined(separator: ", "))"
        case .credentialHelper(let name, let detail):
            "credential helper docker-credential-\(name) failed: \(detail)"
        case .insecureCredentials(let registry):
            "refusing to send credentials over plain http to \(registry)"
        case .io(let path, let detail):
            "cannot write \(path): \(detail)"
        }
    }

    /// Lines that tell the user what to try next.
    public var hints: [String] {
        switch self {
        case .manifestUnknown:
            ["check the tag (or digest): the repository has no such manifest"]
        case .repositoryUnknown:
            ["check the image name; Docker Hub official images live under library/ (library/debian)"]
        case .blobUnknown:
            ["the manifest names a blob the registry no longer has; re-resolve the tag"]
        case .unauthorized(_, _, _, let hadCredentials):
            hadCredentials
                ? ["check the username and password (or token) for this registry"]
                : ["the repository may not exist, or it needs credentials: --username/--password, --token, --credentials-file or --authfile"]
        case .denied:
            ["the credentials are valid but do not grant pull access to this repository"]
        case .noMatchingPlatform:
            ["pick one with --platform os/arch[/variant], or print the index itself with --index"]
        case .insecureCredentials:
            ["use https, or pass --insecure if the network between you and the registry is trusted"]
        case .transport, .gaveUp:
            ["check the registry URI and the network (HTTPS_PROXY/NO_PROXY are honoured)"]
        case .timeLimitReached:
            ["allow more time with --max-time SECONDS, or try again later"]
        case .unsupportedManifest(let type, _) where MediaType.isSchema1(type):
            ["schema 1 images cannot be fetched; ask for a newer tag"]
        default:
            []
        }
    }
}
