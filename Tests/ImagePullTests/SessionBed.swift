import ImagePull
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

/// An ``InProcessRegistry`` holding images, a directory of the test's own,
/// and the options a ``PullSession`` is made from: every use case run
/// against a registry in the test process, with no external tool.
struct SessionBed: Sendable {
    let registry: InProcessRegistry
    /// Removed when the test ends.
    let directory: String
    /// What the session noted (a mirror passed over) and warned of, in order.
    let notes = TextLog()
    let warnings = TextLog()

    /// The image `repository:tag` at the registry, as a command names it
    /// (the endpoint the registry's host: https first, then plain http, as for any loopback host).
    func target(_ repository: String = "team/app", tag: String = "latest") throws -> ImageTarget {
        try ImageTarget(name: "\(registry.host)/\(repository)", tag: tag, registry: nil, insecure: false)
    }

    /// The image by digest.
    func target(_ repository: String = "team/app", digest: String) throws -> ImageTarget {
        try ImageTarget(name: "\(registry.host)/\(repository)", tag: digest, registry: nil, insecure: false)
    }

    /// A path in the test's directory.
    func path(_ name: String) -> String { directory + "/" + name }

    /// The environment of a run: no proxy, no auth file of the user's.
    var environment: [String: String] {
        ["HOME": directory + "/home", "XDG_CONFIG_HOME": directory + "/home/.config", "PATH": "/usr/bin:/bin"]
    }

    /// Options for a test, the notes and warnings kept: retries that wait
    /// milliseconds, and timeouts of 10 s, long enough that a loaded machine
    /// is not taken for a stall; `configure` changes them further.
    func options(_ configure: (inout SessionOptions) throws -> Void = { _ in }) rethrows -> SessionOptions {
        var client = RegistryClientConfiguration()
        client.retries = 2
        client.connectTimeout = .seconds(10)
        client.readTimeout = .seconds(10)
        client.retryBaseDelay = .milliseconds(5)
        client.maxRetryDelay = .milliseconds(200)
        client.environment = environment
        let notes = notes
        let warnings = warnings
        var options = SessionOptions(client: client, note: { notes.append($0) }, warn: { warnings.append($0) })
        try configure(&options)
        return options
    }

    /// Runs `body` in a session made from ``options(_:)``.
    func session<Result: Sendable>(
        _ configure: (inout SessionOptions) throws -> Void = { _ in }, _ body: @escaping @Sendable (PullSession) async throws -> Result
    ) async throws -> Result {
        try await PullSession.run(try options(configure), body)
    }

    /// Starts a registry with `auth` holding `image` as `team/app:latest`,
    /// runs `body`, and stops the registry and removes the directory however `body` ends.
    static func run<Result: Sendable>(
        auth: RegistryAuth = .open, image: ImageFixture? = .sessionSmall, _ body: (SessionBed) async throws -> Result
    ) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.path + "/hocker-session-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: directory + "/home", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await withRegistry(auth: auth) { registry in
            if let image { registry.push(image, to: "team/app") }
            return try await body(SessionBed(registry: registry, directory: directory))
        }
    }
}

/// Runs `body` with a registry started with `auth`, stopped however `body` ends.
func withRegistry<Result: Sendable>(auth: RegistryAuth = .open, _ body: (InProcessRegistry) async throws -> Result) async throws -> Result {
    try await InProcessRegistry.with(auth: auth, body)
}

extension ImageFixture {
    /// One platform (linux/amd64), a config and two layers.
    static let sessionSmall = ImageFixture.build(seed: "session", layerSizes: [40_000, 3_000])
    /// linux/amd64 and linux/arm64/v8 under an OCI index.
    static let sessionTwoPlatforms = ImageFixture.build(seed: "session-two", platforms: [.linuxAMD64, .linuxARM64], layerSizes: [5_000, 700])
}

/// Lines told by a session, kept for assertions.
typealias TextLog = Recorded<String>

/// The contents of a file, or nil when it cannot be read.
func contents(_ path: String) -> Data? {
    FileManager.default.contents(atPath: path)
}
