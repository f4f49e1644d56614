#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
    /// A non-distributable layer the registry does not hold, which its
    /// manifest says is at `url`, not fetched from there without the flag.
    case nondistributable(digest: Digest, url: String, repository: String, registry: String)
    /// 401 after authenticating (or with no credentials to authenticate with).
    case unauthorized(repository: String, registry: String, detail: String, hadCredentials: Bool)
    /// 403: the registry refuses pull access (to these credentials, or to an anonymous client).
    case denied(repository: String, registry: String, detail: String)
    /// The token server refused or failed.
    case tokenRequestFailed(realm: String, status: Int?, detail: String)
    /// An unexpected HTTP status.
    case unexpectedStatus(Int, url: String, detail: String)
    /// Too many failed attempts in a row.
    case gaveUp(url: String, attempts: Int, last: String)
    /// 429 with no pull left in the registry's window and no time named to
    /// wait for: no retry in this run can succeed.
    case rateLimited(url: String, registry: String, detail: String, rateLimit: RateLimit?)
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
    /// A credential helper that did not answer in its time, `after`: its own
    /// bound, or what was left of the run's time limit (`byRunLimit`).
    case credentialHelperTimedOut(name: String, after: Duration, byRunLimit: Bool)
    /// Credentials would go over plain http to a host that is not loopback.
    case insecureCredentials(host: String)
    /// Writing what the registry sent failed.
    case cannotWrite(path: String, detail: String)
    /// A TLS connection to `host` (`HOST[:PORT]`) failed in a way no retry
    /// can mend; `trust` says where the certificates came from, for hints.
    case tls(host: String, problem: TLSProblem, trust: TLSTrustSummary)
    /// A plain-http request reached a server that speaks only https.
    case speaksHTTPS(host: String)
    /// A certificate file or directory that cannot be used.
    case unusableCertificates(path: String, detail: String)
    /// A URL the registry handed over that hocker will not ask (``URLGate``).
    case refusedURL(url: String, kind: HandedURL, reason: String)

    public var message: String {
        switch self {
        case .manifestUnknown(let image, let registry):
            "manifest unknown: \(image) at \(registry)"
        case .repositoryUnknown(let repository, let registry):
            "repository unknown: \(repository) at \(registry)"
        case .blobUnknown(let digest, let repository, let registry):
            "blob unknown: \(digest) in \(repository) at \(registry)"
        case .nondistributable(let digest, let url, let repository, let registry):
            "blob unknown: \(digest) in \(repository) at \(registry); it is a non-distributable layer, which the manifest says is at \(url)"
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
        case .rateLimited(let url, let registry, let detail, let rateLimit):
            Self.rateLimitMessage(url: url, registry: registry, detail: detail, rateLimit: rateLimit)
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
        case .credentialHelperTimedOut(let name, let after, let byRunLimit):
            byRunLimit
                ? "credential helper docker-credential-\(name) did not answer in the \(after.shortSeconds) s the run's time limit left it, and was stopped"
                : "credential helper docker-credential-\(name) did not answer within \(after.wholeSeconds) s, and was stopped"
        case .insecureCredentials(let host):
            "refusing to send credentials over plain http to \(host)"
        case .cannotWrite(let path, let detail):
            "cannot write \(path): \(detail)"
        case .tls(let host, let problem, _):
            Self.message(host: host, problem: problem)
        case .speaksHTTPS(let host):
            "\(host) speaks https, not plain http: use https://\(host)/v2/"
        case .unusableCertificates(let path, let detail):
            "cannot use \(path): \(detail)"
        case .refusedURL(let url, let kind, let reason):
            "refusing the \(kind) to \(url): \(reason)"
        }
    }

    private static func rateLimitMessage(url: String, registry: String, detail: String, rateLimit: RateLimit?) -> String {
        var text = "\(registry) refused \(url) for too many requests (HTTP 429)"
        if !detail.isEmpty { text += ": " + detail }
        if let rateLimit { text += "; " + rateLimit.description }
        return text
    }

    private static func message(host: String, problem: TLSProblem) -> String {
        switch problem {
        case .untrusted(let issuer):
            return "the certificate of \(host) is not trusted (issuer: \(issuer))"
        case .hostnameMismatch(let names):
            let name = RegistryEndpoint(scheme: "https", host: host).hostname
            return "the certificate of \(host) is for \(names.isEmpty ? "no host name" : names.joined(separator: ", ")), not \(name)"
        case .expired(let subject, let date):
            return "the certificate of \(host) (\(subject)) expired on \(TLSTrustSummary.format(date))"
        case .notYetValid(let subject, let date):
            return "the certificate of \(host) (\(subject)) is not valid before \(TLSTrustSummary.format(date))"
        case .unverified:
            return "the certificate of \(host) does not verify"
        case .clientCertificateRequired:
            return "\(host) requires a client certificate, and none was presented"
        case .clientCertificateRejected(let path):
            return "\(host) refused the client certificate\(path.map { " \($0)" } ?? "")"
        case .speaksPlainHTTP:
            return "\(host) speaks plain http, not https: use http://\(host)/v2/ or --insecure"
        case .closedDuringHandshake:
            return "\(host) closed the connection during the TLS handshake"
        case .handshakeFailed(let words):
            return "the TLS handshake with \(host) failed\(words.isEmpty ? "" : ": \(words)")"
        }
    }

    private static func tlsHints(host: String, problem: TLSProblem, trust: TLSTrustSummary) -> [String] {
        let insecure = "--insecure skips certificate verification (only on a network you trust)"
        let directories = trust.perHostDirectories.map { $0 + "/" }
        let where_ = directories.isEmpty ? "" : "\(directories[0])\(directories.count > 1 ? " (or \(directories.dropFirst().joined(separator: ", ")))" : "")"
        switch problem {
        case .untrusted, .unverified:
            var hints: [String] = []
            if let certDirectory = trust.certDirectory {
                hints.append("no CA certificate in --cert-dir \(certDirectory) signed it: add the registry's CA there as NAME.crt")
            } else {
                hints.append("trust the registry's CA: put its certificate as ca.crt in \(where_), or in a directory given as --cert-dir DIR")
                if let used = trust.usedDirectory { hints.append("\(used) is used for \(host), and none of its .crt files signed the certificate") }
            }
            // NIX_SSL_CERT_FILE wins over SSL_CERT_FILE: name the one that will be read.
            let bundleVariable = if case .file(_, "NIX_SSL_CERT_FILE") = trust.base { "NIX_SSL_CERT_FILE" } else { "SSL_CERT_FILE" }
            hints.append("or name a CA bundle with \(bundleVariable) (it replaces the system roots; now trusted: \(trust.base))")
            hints.append(insecure)
            return hints
        case .hostnameMismatch(let names):
            return [
                "use a name the certificate is for\(names.first.map { " (\($0))" } ?? ""), or have it reissued with this host in its subjectAltName",
                insecure,
            ]
        case .expired, .notYetValid:
            return ["the registry's certificate must be renewed (or this machine's clock is wrong)", insecure]
        case .clientCertificateRequired:
            return [
                trust.certDirectory.map { "put the client certificate and its key as NAME.cert and NAME.key in --cert-dir \($0)" }
                    ?? "put the client certificate and its key as NAME.cert and NAME.key in \(where_), or in a directory given as --cert-dir DIR"
            ]
        case .clientCertificateRejected:
            return ["the client certificate must be issued by a CA the registry trusts for clients (and not be expired)"]
        case .speaksPlainHTTP:
            return ["an explicit https:// is used as given; a bare host:port with --insecure tries https, then http"]
        case .closedDuringHandshake:
            return ["the server may speak plain http (use http://\(host)/v2/), or refuse hocker's TLS versions"]
        case .handshakeFailed:
            return [insecure]
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
        case .nondistributable:
            [
                "fetch it from there with --allow-nondistributable-artifacts (sent without credentials; the bytes are verified against the digest)",
                "or push the image again with its foreign layers included",
            ]
        case .blobUnknown:
            ["check the digest; one taken from an older manifest may name a blob the registry no longer keeps (re-resolve the tag)"]
        case .unauthorized(_, _, _, let hadCredentials):
            hadCredentials
                ? ["check the username and password (or token) for this registry"]
                : ["the repository may not exist, or it needs credentials: --username/--password, --token, --credentials-file or --authfile"]
        case .denied:
            [
                "the registry refuses this client pull access: credentials that were sent do not grant it; "
                    + "without credentials, it may need some (--username/--password, --token, --credentials-file or --authfile)"
            ]
        case .insecureCredentials:
            ["use https, or pass --insecure if the network between you and the registry is trusted"]
        case .transport, .gaveUp:
            ["check the registry URI and the network (HTTPS_PROXY/NO_PROXY are honoured)"]
        case .rateLimited(_, let registry, _, _):
            [
                "wait for the registry's window to pass, or authenticate: \(registry) may allow more pulls to a logged-in user (--username/--password, --authfile)",
                "or pull through a mirror or pull-through cache of \(registry)",
            ]
        case .timeLimitReached, .credentialHelperTimedOut(_, _, byRunLimit: true):
            ["allow more time with --max-time SECONDS, or try again later"]
        case .credentialHelperTimedOut(let name, _, _):
            ["check that docker-credential-\(name) answers without asking for input (a locked keychain, a login prompt)"]
        case .tls(let host, let problem, let trust):
            Self.tlsHints(host: host, problem: problem, trust: trust)
        case .speaksHTTPS:
            ["for a registry signed by a private CA, see --cert-dir"]
        case .unusableCertificates:
            ["a certificate directory holds CA certificates as *.crt, and a client certificate as NAME.cert with its key NAME.key (containers-certs.d(5))"]
        case .refusedURL(_, .redirect, _), .refusedURL(_, .nextPage, _), .refusedURL(_, .tokenRealm, _):
            ["the registry handed over a URL hocker does not follow; if the registry is yours, check its redirect, Link and realm settings"]
        default:
            []
        }
    }

    /// The time limit named where it was reached: a request, or a credential
    /// helper stopped at what the run's limit left it.
    public var reportsTimeLimit: Bool {
        switch self {
        case .timeLimitReached, .credentialHelperTimedOut(_, _, byRunLimit: true): true
        default: false
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

/// Where the certificates of a failed TLS connection came from, for the
/// hints of ``RegistryError/tls(host:problem:trust:)``.
public struct TLSTrustSummary: Sendable, Equatable {
    /// `--cert-dir`, when given.
    public var certDirectory: String?
    /// The per-registry directories looked up for the host, in order.
    public var perHostDirectories: [String]
    /// The per-registry directory that applied, if one existed.
    public var usedDirectory: String?
    /// The base roots.
    public var base: BaseTrust

    public init(certDirectory: String?, perHostDirectories: [String], usedDirectory: String?, base: BaseTrust) {
        self.certDirectory = certDirectory
        self.perHostDirectories = perHostDirectories
        self.usedDirectory = usedDirectory
        self.base = base
    }

    /// `2026-11-30 11:24 UTC`.
    static func format(_ date: Date) -> String {
        UTCTime.format(date)
    }
}
