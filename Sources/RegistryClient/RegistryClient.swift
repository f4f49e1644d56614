import AsyncHTTPClient
import ImageReference
import ImageSpec
import Logging
import Synchronization

/// A client for one registry's Distribution API v2: manifests as raw bytes,
/// blobs streamed and verified, tag lists, authentication answered as the
/// registry challenges.
///
/// Every request — manifest, blob, tag list, token — goes through one path
/// (`send`, in `RegistryClient+Send.swift`) that applies the credential
/// rule, answers challenges, follows redirects and retries within one
/// budget. One instance per registry and run; call `shutdown()` when done.
public final class RegistryClient: Sendable {
    public let endpoint: RegistryEndpoint
    public let configuration: RegistryClientConfiguration
    let http: HTTPClient
    let auth: AuthSession
    let logger: Logger
    /// When `configuration.maxTime` runs out: no request or retry goes past it.
    let deadline: ContinuousClock.Instant?
    /// The CA roots and client certificates, host by host, read at the
    /// first https request (a run over plain http reads no bundle); an
    /// unusable `--cert-dir` or CA file fails that request.
    private let trustState = Mutex<Result<TLSTrust, RegistryError>?>(nil)
    /// For an endpoint that may fall back to plain http: what its first
    /// answer showed it speaks.
    let schemeChoice = Mutex(SchemeChoice.undecided)
    /// The `urls` of the blobs the manifests fetched so far list (foreign
    /// layers), by digest: where a blob the registry does not hold may be.
    let blobURLs = Mutex<[Digest: [String]]>([:])

    enum SchemeChoice {
        case undecided, https, http
    }

    /// - Parameters:
    ///   - endpoint: where the registry's API is.
    ///   - credentials: where credentials come from; nil for anonymous.
    ///   - logger: requests are logged at `debug`, with secrets left out.
    public init(
        endpoint: RegistryEndpoint, credentials: CredentialResolver?, configuration: RegistryClientConfiguration = .init(),
        logger: Logger = Logger(label: "hocker")
    ) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.logger = logger
        deadline = configuration.maxTime.map { ContinuousClock.now + $0 }
        http = HTTPClientFactory.make(for: endpoint, configuration: configuration)
        auth = AuthSession(endpoint: endpoint, resolver: credentials, configuration: configuration)
    }

    /// The run's ``TLSTrust``, read once.
    func trust() throws(RegistryError) -> TLSTrust {
        let configuration = configuration
        return try trustState.withLock { state in
            if let state { return state }
            let made = Result { () throws(RegistryError) in
                try TLSTrust(
                    certDirectory: configuration.certDirectory, perHostRoots: configuration.perHostCertificateRoots,
                    environment: configuration.environment, insecure: configuration.insecure)
            }
            state = made
            return made
        }.get()
    }

    /// The endpoint as requests go to it: `endpoint`, or its plain-http
    /// form once a loopback or `--insecure` host answered https with plain
    /// http. What a pin should record after the client has been used.
    public var effectiveEndpoint: RegistryEndpoint {
        schemeChoice.withLock { $0 } == .http ? endpoint.plainHTTP : endpoint
    }

    /// Closes the connections. Must be called before the client goes away.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// Starts closing the connections without waiting: for a run about to
    /// end on an error, which a connection attempt still under way (to a
    /// server that never answers) must not hold up until its timeout.
    public func shutdownWithoutWaiting() {
        let http = http
        Task { try? await http.shutdown() }
    }

    /// Runs `body` with this client, then shuts it down: waiting for that
    /// after success, not after an error (``shutdownWithoutWaiting()``).
    public func use<Result: Sendable>(_ body: (RegistryClient) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(self)
            try? await shutdown()
            return result
        } catch {
            shutdownWithoutWaiting()
            throw error
        }
    }

    /// A fresh retry budget for one operation, bounded by `--retries` and the deadline.
    func makeRetryBudget() -> RetryBudget {
        RetryBudget(configuration: configuration, deadline: deadline)
    }

    /// `…/v2/<repository>/<kind>/<reference>`.
    func url(_ repository: String, _ kind: String, _ reference: String) -> String {
        effectiveEndpoint.v2URL + repository + "/" + kind + "/" + reference
    }
}
