import AsyncHTTPClient
import ImageReference
import Logging

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

    /// Closes the connections. Must be called before the client goes away.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// A fresh retry budget for one operation, bounded by `--retries` and the deadline.
    func makeRetryBudget() -> RetryBudget {
        RetryBudget(configuration: configuration, deadline: deadline)
    }

    /// `…/v2/<repository>/<kind>/<reference>`.
    func url(_ repository: String, _ kind: String, _ reference: String) -> String {
        endpoint.v2URL + repository + "/" + kind + "/" + reference
    }
}
