import ImageReference
import ImageSpec
import RegistryClient
import RegistryMirrors

/// What a mirror must answer before a pull goes to it.
public enum SourceProbe: Sendable, Hashable {
    /// A `GET` of the manifest the reference names.
    case manifest
    /// A `HEAD` of it (the look-ups that need only its digest).
    case manifestDigest
    /// A `HEAD` of one blob (a blob fetched alone: `hocker layer`).
    case blob(Digest)

    /// Whether a pull of `image` asked this way is by digest, which a
    /// digest-only mirror (`pull-from-mirror = "digest-only"`) may serve: a
    /// blob always is.
    public func isByDigest(_ image: ImageReference) -> Bool {
        if case .blob = self { return true }
        return image.digest != nil
    }
}

/// A pull that no source could serve: what each answered, mirrors first, the primary last.
public struct AllSourcesFailed: UserFacingError {
    /// The image as the user named it.
    public var image: String
    /// One per source tried, in order: the source and its answer.
    public var answers: [(source: String, answer: String)]
    /// The primary's own error, for its hints and exit status.
    public var last: any UserFacingError

    public var message: String {
        "no source could serve \(image):" + answers.map { "\n  \($0.source): \($0.answer)" }.joined()
    }

    public var hints: [String] { last.hints }
    public var exitStatus: ExitStatus { last.exitStatus }
}

/// Tries a pull's sources in order — the mirrors, then the primary — and
/// runs the pull against the first that answers: a mirror is asked once
/// (``SourceProbe``, with no retries, so a broken mirror costs one request,
/// not a retry budget), and once it has answered every request of the pull
/// goes to it, with the full retry budget. The primary is tried last,
/// without a probe, as a run without mirrors would.
///
/// Credentials: a mirror on another registry (host and port) than the
/// primary never gets the credential of flags or the environment, only
/// what the auth files hold for its own host.
public struct SourceChain: Sendable {
    public var plan: PullPlan
    /// The primary's endpoint: `--registry` as given, or the image's registry.
    public var primaryEndpoint: RegistryEndpoint
    /// The credentials of the run; nil for anonymous.
    public var credentials: CredentialResolver?
    /// Makes a client; the configuration given is the run's with the source's `insecure` and retries applied.
    public var makeClient: @Sendable (RegistryEndpoint, CredentialResolver?, RegistryClientConfiguration) -> RegistryClient
    public var configuration: RegistryClientConfiguration
    /// Told when a mirror could not serve the pull and the next source is tried; nil for silence.
    public var note: (@Sendable (String) -> Void)?

    public init(
        plan: PullPlan, primaryEndpoint: RegistryEndpoint, credentials: CredentialResolver?, configuration: RegistryClientConfiguration,
        note: (@Sendable (String) -> Void)? = nil,
        makeClient: @escaping @Sendable (RegistryEndpoint, CredentialResolver?, RegistryClientConfiguration) -> RegistryClient
    ) {
        self.plan = plan
        self.primaryEndpoint = primaryEndpoint
        self.credentials = credentials
        self.configuration = configuration
        self.note = note
        self.makeClient = makeClient
    }

    /// The chain of a pull of `image` that a mirror must answer with `probe`:
    /// the run's mirrors (`--mirror`, `HOCKER_MIRROR`), then those of
    /// registries.conf, then the registry at `primaryEndpoint`.
    public init(
        image: ImageReference, probe: SourceProbe, primaryEndpoint: RegistryEndpoint, runMirrors: [MirrorRule],
        registriesConf: RegistriesConfiguration, insecure: Bool, credentials: CredentialResolver?, configuration: RegistryClientConfiguration,
        note: (@Sendable (String) -> Void)? = nil,
        makeClient: @escaping @Sendable (RegistryEndpoint, CredentialResolver?, RegistryClientConfiguration) -> RegistryClient
    ) throws(PullSourceError) {
        let plan = try PullPlan(
            image: image, runMirrors: runMirrors, configuration: registriesConf, byDigest: probe.isByDigest(image), insecure: insecure)
        self.init(
            plan: plan, primaryEndpoint: primaryEndpoint, credentials: credentials, configuration: configuration, note: note, makeClient: makeClient)
    }

    /// The primary source (always the last).
    public var primary: PullSource { plan.sources[plan.sources.count - 1] }

    /// The endpoint of `source`: for the primary under its own name, the one
    /// the command was given; else the host's, https first (plain http too
    /// for loopback and insecure ones).
    public func endpoint(of source: PullSource) -> RegistryEndpoint {
        if !source.isMirror, source.image.registry == primaryEndpoint.name {
            // registries.conf's `insecure = true` lets the registry fall back to plain http, as a bare host under
            // --insecure does; an http:// endpoint, or one with a path, stays as given.
            if source.insecure, primaryEndpoint == RegistryEndpoint(registryName: source.image.registry) {
                return RegistryEndpoint(registryName: source.image.registry, insecure: true)
            }
            return primaryEndpoint
        }
        return RegistryEndpoint(registryName: source.image.registry, insecure: source.insecure)
    }

    /// The credentials a source may use: all of the run's for the primary
    /// and a mirror on the same registry; the auth files alone, looked up by
    /// its own host, for a mirror elsewhere.
    public func credentials(for source: PullSource) -> CredentialResolver? {
        guard source.isMirror, source.image.registry != primary.image.registry else { return credentials }
        return credentials?.withoutExplicitCredential()
    }

    private func client(for source: PullSource, probing: Bool) -> RegistryClient {
        var configuration = configuration
        if source.insecure { configuration.insecure = true }
        if probing {
            configuration.retries = 0
            configuration.retryObserver = nil
        }
        return makeClient(endpoint(of: source), credentials(for: source), configuration)
    }

    /// Runs `body` against the first source that answers `probe`, with the
    /// image as that source names it.
    public func run<Result: Sendable>(
        probe: SourceProbe, _ body: (RegistryClient, ImageReference) async throws -> Result
    ) async throws -> Result {
        var answers: [(source: String, answer: String)] = []
        for source in plan.sources where source.isMirror {
            let probeClient = client(for: source, probing: true)
            do {
                // A failed probe's connections are not waited for: an attempt still under way must not hold up the next source.
                try await probeClient.use { try await Self.ask($0, probe, image: source.image) }
            } catch {
                if error is CancellationError { throw error }
                let answer = error.userFacingMessage
                answers.append((source.description, answer))
                note?("\(source) (\(Self.origin(of: source))) cannot serve \(source.image): \(answer); trying the next source")
                continue
            }
            return try await client(for: source, probing: false).use { client in try await body(client, source.image) }
        }
        let primary = primary
        do {
            return try await client(for: primary, probing: false).use { client in try await body(client, primary.image) }
        } catch let error as RegistryError where !answers.isEmpty {
            throw AllSourcesFailed(image: primary.image.description, answers: answers + [(primary.description, error.message)], last: error)
        }
    }

    private static func origin(of source: PullSource) -> String {
        if case .mirror(let origin) = source.role { return origin }
        return "primary"
    }

    private static func ask(_ client: RegistryClient, _ probe: SourceProbe, image: ImageReference) async throws {
        switch probe {
        case .manifest: _ = try await client.fetchManifest(image)
        case .manifestDigest: _ = try await client.manifestDigest(image)
        case .blob(let digest): try await client.checkBlob(digest, of: image)
        }
    }
}
