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
    /// What every view of this client shares: connections, tokens, TLS
    /// trust, and what the registry turned out to speak.
    let connection: Connection

    /// The state shared by a client and the views ``adjusted(_:)`` makes of it.
    final class Connection: Sendable {
        let http: HTTPClient
        let auth: AuthSession
        let logger: Logger
        /// The CA roots and client certificates, host by host, read at the
        /// first https request (a run over plain http reads no bundle); an
        /// unusable `--cert-dir` or CA file fails that request.
        let trustState = Mutex<Result<TLSTrust, RegistryError>?>(nil)
        /// For an endpoint that may fall back to plain http: what its first
        /// answer showed it speaks.
        let schemeChoice = Mutex(SchemeChoice.undecided)

        init(http: HTTPClient, auth: AuthSession, logger: Logger) {
            self.http = http
            self.auth = auth
            self.logger = logger
        }
    }

    enum SchemeChoice {
        case undecided, https, http
    }

    var http: HTTPClient { connection.http }
    var auth: AuthSession { connection.auth }
    var logger: Logger { connection.logger }
    /// When the run must be over: no request or retry goes past it.
    var deadline: ContinuousClock.Instant? { configuration.deadline.instant }

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
        connection = Connection(
            http: HTTPClientFactory.make(for: endpoint, configuration: configuration),
            auth: AuthSession(endpoint: endpoint, resolver: credentials, configuration: configuration), logger: logger)
    }

    private init(endpoint: RegistryEndpoint, configuration: RegistryClientConfiguration, connection: Connection) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.connection = connection
    }

    /// The same client — its connections, its tokens, what it learnt of the
    /// registry — with settings changed for some requests: no retries and an
    /// earlier deadline for a mirror's probe, say. The connection settings
    /// (timeouts, TLS, proxy) are the client's own and do not change.
    /// Shutting either down closes both.
    public func adjusted(_ change: (inout RegistryClientConfiguration) -> Void) -> RegistryClient {
        var configuration = configuration
        change(&configuration)
        return RegistryClient(endpoint: endpoint, configuration: configuration, connection: connection)
    }

    /// The run's ``TLSTrust``, read once.
    func trust() throws(RegistryError) -> TLSTrust {
        let configuration = configuration
        return try connection.trustState.withLock { state in
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
        connection.schemeChoice.withLock { $0 } == .http ? endpoint.plainHTTP : endpoint
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

    /// The credential the client offers for `repository` without a
    /// challenge — the flags', the environment's or an auth file's own
    /// entry; never one a credential helper must be run for.
    public func upfrontCredential(for repository: String) async -> ResolvedCredential? {
        await auth.upfront(for: repository)
    }

    /// A fresh retry budget for one operation, bounded by `--retries` and the deadline.
    func makeRetryBudget() -> RetryBudget {
        RetryBudget(configuration: configuration)
    }

    /// `…/v2/<repository>/<kind>/<reference>`.
    func url(_ repository: String, _ kind: String, _ reference: String) -> String {
        effectiveEndpoint.v2URL + repository + "/" + kind + "/" + reference
    }
}
