#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// The release of hocker, for `--version` and the `User-Agent`.
public enum HockerVersion {
    /// Semantic version; 2 because it succeeds the Haskell hocker 1.x.
    public static let current = "2.0.0"
}

/// How the HTTP client behaves: timeouts, retries, TLS and proxies.
public struct RegistryClientConfiguration: Sendable {
    /// Plain http to any host, and TLS without certificate verification.
    public var insecure = false
    /// `--cert-dir`: CA roots (`*.crt`) and a client certificate
    /// (`NAME.cert` + `NAME.key`) for every host, in place of the
    /// per-registry certs.d directories (``TLSTrust``).
    public var certDirectory: String?
    /// Where per-registry certificate directories (`HOST:PORT`) are looked
    /// up; nil for ``TLSTrust/defaultPerHostRoots(environment:)``.
    public var perHostCertificateRoots: [String]?
    /// Retries of a request after a connection error, 429 or 5xx (default 5).
    /// Whether a non-distributable (foreign) layer the registry does not
    /// hold may be fetched from the `urls` its descriptor lists; those
    /// requests never carry credentials.
    public var nondistributableURLs = false
    public var retries = 5
    /// Time to establish a connection (default 10 s).
    public var connectTimeout: TimeAmount = .seconds(10)
    /// Longest wait for the next bytes of a response (default 30 s). A
    /// stall is retried once; a second one in a row with nothing received
    /// in between ends the operation, so a server that accepts and never
    /// answers costs about twice this, not `retries` times it.
    public var readTimeout: TimeAmount = .seconds(30)
    /// Longest a single request may take, body included (default 6 h).
    public var requestDeadline: TimeAmount = .hours(6)
    /// When the run must be over (`--max-time`), made once for the run and
    /// shared by every client, retry, wait and credential helper; none by default.
    public var deadline: Deadline = .none
    /// Longest a credential helper may take to answer (default 30 s), or
    /// less when the deadline is nearer.
    public var credentialHelperTimeout: Duration = .seconds(30)
    /// Slowest a body may arrive, in bytes per second, over a window of
    /// `readTimeout` (default 1 KiB/s): a body that trickles more slowly is
    /// treated as a stall (retried once, then abandoned).
    public var minimumRate: Int = 1024
    /// Largest manifest accepted, in bytes (default 4 MiB).
    public var maxManifestBytes = 4 * 1024 * 1024
    /// First retry delay; doubled each time, with jitter (default 0.5 s).
    public var retryBaseDelay: Duration = .milliseconds(500)
    /// Longest delay between retries, `Retry-After` included (default 30 s).
    public var maxRetryDelay: Duration = .seconds(30)
    /// The environment, for the proxy variables and the CA variables
    /// (`NIX_SSL_CERT_FILE`, `SSL_CERT_FILE`, `SSL_CERT_DIR`).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Where issued tokens are registered so output can mask them; nil for none.
    public var redactor: SecretRedactor?
    /// Whether blob bytes are hashed while they arrive and checked against
    /// their digest (default true). Off only where another party checks
    /// them anyway: inside a fixed-output Nix derivation, which Nix hashes
    /// itself and fails, naming the derivation, when the hash differs.
    public var verifyDigests = true
    /// Sent as `User-Agent`.
    public var userAgent = "hocker/" + HockerVersion.current
    /// Told of every retry before its wait begins, so a person sees why
    /// nothing is arriving; nil for silence.
    public var retryObserver: (@Sendable (RetryNotice) -> Void)?

    public init() {}
}

/// A retry about to happen: what failed, which attempt comes next, and
/// how long until it starts.
public struct RetryNotice: Sendable, CustomStringConvertible {
    /// The URL that failed.
    public var url: String
    /// What went wrong, in a few words ("HTTP 503", "connection refused").
    public var reason: String
    /// The attempt about to be made, counting from 1.
    public var nextAttempt: Int
    /// The most attempts the retry budget allows.
    public var maxAttempts: Int
    /// The wait before it.
    public var delay: Duration

    /// `retrying in 0.7 s (attempt 2 of 6): connection refused by 127.0.0.1:5000`.
    public var description: String {
        let wait = delay.shortSeconds
        let components = URLComponents(string: url)
        let host = components.map { c in (c.host ?? "") + (c.port.map { ":\($0)" } ?? "") } ?? url
        return "retrying in \(wait) s (attempt \(nextAttempt) of \(maxAttempts)): \(reason) (\(host))"
    }
}
