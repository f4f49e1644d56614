import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ``InProcessRegistry`` holding one image, and the clients a test makes
/// for it: the request path exercised with no external tool.
struct InProcessBed: Sendable {
    let registry: InProcessRegistry
    let image: ImageFixture
    let repository = "team/app"
    /// Retries the clients announced, in order.
    let notices = NoticeLog()

    /// The image's reference by `tag`, or by digest.
    func reference(_ tag: String = "latest", digest: String? = nil, host: String? = nil) throws -> ImageReference {
        try ImageReference(registry: host ?? registry.host, repository: repository, tag: digest == nil ? tag : nil, digest: digest.map { try Digest(parsing: $0) })
    }

    /// The descriptor of a blob, as a manifest lists it.
    static func descriptor(_ blob: FixtureBlob) throws -> Descriptor {
        Descriptor(mediaType: blob.mediaType, digest: try Digest(parsing: blob.digest), size: Int64(blob.size))
    }

    /// The environment clients see: no proxy and no auth file of the user's.
    static let environment = ["HOME": "/nonexistent/hocker-in-process-tests", "XDG_CONFIG_HOME": "/nonexistent/hocker-in-process-tests"]

    /// Timeouts and delays for a test: a stall is noticed in 5 s — long
    /// enough that a loaded machine is not taken for a stall; tests of
    /// stalls make it less — a retry waits milliseconds, `Retry-After` at
    /// most 0.3 s.
    static func configuration(notices: NoticeLog) -> RegistryClientConfiguration {
        var configuration = RegistryClientConfiguration()
        configuration.retries = 3
        configuration.connectTimeout = .seconds(5)
        configuration.readTimeout = .seconds(5)
        configuration.retryBaseDelay = .milliseconds(5)
        configuration.maxRetryDelay = .milliseconds(300)
        configuration.environment = environment
        configuration.retryObserver = { notice in notices.append(notice) }
        return configuration
    }

    /// Runs `body` with a client for the registry (`endpoint` when given),
    /// with `credential` when given, and shuts it down.
    func withClient<Result: Sendable>(
        _ credential: Credential? = nil, endpoint: RegistryEndpoint? = nil, _ body: (RegistryClient) async throws -> Result,
        configure: (inout RegistryClientConfiguration) -> Void = { _ in }
    ) async throws -> Result {
        var configuration = Self.configuration(notices: notices)
        configure(&configuration)
        var resolver: CredentialResolver?
        if case .basic(let username, let password)? = credential {
            resolver = try CredentialResolver(options: CredentialOptions(username: username, password: password, environment: Self.environment))
        }
        let client = RegistryClient(
            endpoint: endpoint ?? RegistryEndpoint(scheme: "http", host: registry.host), credentials: resolver, configuration: configuration)
        return try await client.use(body)
    }

    /// Starts a registry with `auth` holding `image` as `team/app:latest`,
    /// runs `body`, and stops the registry however `body` ends.
    static func run<Result: Sendable>(
        auth: RegistryAuth = .open, image: ImageFixture = .small, unixSocketPath: String? = nil, _ body: (InProcessBed) async throws -> Result
    ) async throws -> Result {
        try await InProcessRegistry.with(auth: auth, unixSocketPath: unixSocketPath) { registry in
            registry.push(image, to: "team/app")
            return try await body(InProcessBed(registry: registry, image: image))
        }
    }
}

extension ImageFixture {
    /// One platform, a config and one layer of about 200 KB: big enough to be cut mid-body.
    static let small = ImageFixture.build(seed: "small", layerSizes: [200_000])
    /// linux/amd64 and linux/arm64/v8 under an index.
    static let twoPlatforms = ImageFixture.build(seed: "two", platforms: [.linuxAMD64, .linuxARM64], layerSizes: [2048])
}

/// The retries a client announced, kept for assertions.
typealias NoticeLog = Recorded<RetryNotice>

/// A temporary directory of the test's own, removed by the caller.
func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.path + "/hocker-inproc-" + UUID().uuidString.prefix(8).lowercased()
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
