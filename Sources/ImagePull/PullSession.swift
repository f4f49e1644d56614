#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageReference
import ImageSpec
import Logging
import RegistryClient
import ImageTrust
import RegistryMirrors
import Synchronization

/// What a run is given, read once before its first request: the
/// credentials (a password from standard input already read), the mirrors
/// and registries.conf, the client settings, the time limit.
public struct SessionOptions: Sendable {
    /// The run's credentials (flags, environment, auth files); nil for anonymous.
    public var credentials: CredentialResolver?
    /// The settings every client of the run starts from: retries, timeouts,
    /// TLS, `--insecure`. Its deadline is the session's own.
    public var client: RegistryClientConfiguration
    /// `--max-time`: how long the whole run may take; nil for no limit.
    public var maxTime: Duration?
    /// `--mirror` (or `HOCKER_MIRROR`): tried first, for every image.
    public var runMirrors: [MirrorRule]
    /// registries.conf, read once: mirrors, location rewrites, `insecure`, `blocked`.
    public var registriesConf: RegistriesConfiguration
    /// `--cache`: blobs kept by digest across runs; nil for none.
    public var cache: BlobCache?
    /// Told of each blob's progress; nil for none.
    public var observer: (any TransferObserver)?
    /// Where temporary outputs are registered, so a signal can remove them.
    public var temporaryPaths: TemporaryPaths
    /// Told of what a person should know but does not stop the run: a
    /// mirror passed over, an image for another platform. Nil for silence.
    public var note: (@Sendable (String) -> Void)?
    /// Told of warnings (the caller prints them as such); nil for silence.
    public var warn: (@Sendable (String) -> Void)?
    /// Requests are logged at `debug`, secrets left out.
    public var logger: Logger
    /// The signature policy, registries.d and the policy's keys; ``TrustSettings/none``
    /// for the use cases that verify nothing.
    public var trust: TrustSettings

    public init(
        credentials: CredentialResolver? = nil, client: RegistryClientConfiguration = .init(), maxTime: Duration? = nil,
        runMirrors: [MirrorRule] = [], registriesConf: RegistriesConfiguration = .init(), cache: BlobCache? = nil,
        observer: (any TransferObserver)? = nil, temporaryPaths: TemporaryPaths = TemporaryPaths(),
        note: (@Sendable (String) -> Void)? = nil, warn: (@Sendable (String) -> Void)? = nil, logger: Logger = Logger(label: "hocker"),
        trust: TrustSettings = .none
    ) {
        self.trust = trust
        self.credentials = credentials
        self.client = client
        self.maxTime = maxTime
        self.runMirrors = runMirrors
        self.registriesConf = registriesConf
        self.cache = cache
        self.observer = observer
        self.temporaryPaths = temporaryPaths
        self.note = note
        self.warn = warn
        self.logger = logger
    }

    /// Plain http and TLS without verification for every registry (`--insecure`).
    public var insecure: Bool { client.insecure }
}

/// One run against registries: the options read once, one deadline that
/// every source, mirror, lock entry, retry and credential helper draws
/// from, one client per registry endpoint (its connections and tokens
/// shared by everything the run asks there), and what the run learnt of
/// its mirrors. Each use case is one function of it (`PullSession+*.swift`).
///
/// Made with ``run(_:_:)``, which enforces the deadline and closes the
/// clients when the work is done.
public final class PullSession: Sendable {
    public let options: SessionOptions
    /// When the run must be over.
    public let deadline: Deadline
    private let clients = Mutex(ClientTable())
    /// Mirrors that could not be reached, by host, with what they answered:
    /// not asked again in this run.
    let unreachableMirrors = Mutex<[String: String]>([:])

    /// The clients made so far, and whether the session has been closed: work
    /// abandoned at the deadline may still ask for a client after the close,
    /// and gets one already shut down rather than one nobody closes.
    struct ClientTable {
        var byKey: [ClientKey: RegistryClient] = [:]
        var closed = false

        /// Every client, the table left closed and empty.
        mutating func close() -> [RegistryClient] {
            closed = true
            defer { byKey = [:] }
            return Array(byKey.values)
        }
    }

    /// What makes two clients different: where, with which credentials, how strictly.
    struct ClientKey: Hashable {
        var endpoint: RegistryEndpoint
        var credentials: CredentialScope
        var insecure: Bool
    }

    /// Which of the run's credentials a source may use.
    public enum CredentialScope: Hashable, Sendable {
        /// All of them: the image's own registry.
        case all
        /// Only what the auth files hold for the source's own host: a
        /// mirror on another registry, which never gets the flags' or the
        /// environment's credential.
        case authFilesOnly
    }

    /// A session whose deadline starts now.
    public init(options: SessionOptions) {
        self.options = options
        deadline = Deadline(limit: options.maxTime)
    }

    /// Runs `body` with a new session: the whole of it within the deadline
    /// (``Deadline/enforce(_:)``), the clients closed after.
    public static func run<Result: Sendable>(
        _ options: SessionOptions, _ body: @escaping @Sendable (PullSession) async throws -> Result
    ) async throws -> Result {
        let session = PullSession(options: options)
        do {
            let result = try await session.deadline.enforce { try await body(session) }
            await session.shutdown()
            return result
        } catch {
            // An attempt still under way (a server that never answers) must not hold up the end.
            session.shutdownWithoutWaiting()
            throw error
        }
    }

    /// The client of `endpoint`, made at its first use and shared after.
    public func client(for endpoint: RegistryEndpoint, credentials scope: CredentialScope = .all, insecure: Bool = false) -> RegistryClient {
        let key = ClientKey(endpoint: endpoint, credentials: scope, insecure: insecure || options.insecure)
        return clients.withLock { table in
            if let client = table.byKey[key] { return client }
            var configuration = options.client
            configuration.deadline = deadline
            configuration.insecure = key.insecure
            let resolver = scope == .all ? options.credentials : options.credentials?.withoutExplicitCredential()
            let client = RegistryClient(endpoint: endpoint, credentials: resolver, configuration: configuration, logger: options.logger)
            if table.closed {
                client.shutdownWithoutWaiting()
            } else {
                table.byKey[key] = client
            }
            return client
        }
    }

    /// Closes every client's connections, waiting for them.
    public func shutdown() async {
        let all = clients.withLock { $0.close() }
        let unreachable = unreachableMirrors.withLock { Set($0.keys) }
        for client in all {
            // A mirror that never answered may still hold a connection attempt: not waited for.
            if unreachable.contains(client.endpoint.host) {
                client.shutdownWithoutWaiting()
            } else {
                try? await client.shutdown()
            }
        }
    }

    /// Starts closing every client without waiting: for a run that ends on an error.
    public func shutdownWithoutWaiting() {
        let all = clients.withLock { $0.close() }
        for client in all { client.shutdownWithoutWaiting() }
    }

    /// A puller on `client`, with the session's cache, progress and warnings.
    func puller(_ client: RegistryClient, jobs: Int? = nil, observed: Bool = true) -> ImagePuller {
        ImagePuller(
            client: client, cache: options.cache, jobs: jobs, observer: observed ? options.observer : nil, temporaryPaths: options.temporaryPaths,
            warn: options.warn, note: options.note)
    }
}
