#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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

/// The sources of one pull, in order — the mirrors, then the primary —
/// and what each gets: its endpoint and which of the run's credentials.
///
/// Credentials: a mirror on another registry (host and port) than the
/// primary never gets the credential of flags or the environment, only
/// what the auth files hold for its own host.
public struct SourceChain: Sendable {
    public var plan: PullPlan
    /// The primary's endpoint: `--registry` as given, or the image's registry.
    public var primaryEndpoint: RegistryEndpoint

    public init(plan: PullPlan, primaryEndpoint: RegistryEndpoint) {
        self.plan = plan
        self.primaryEndpoint = primaryEndpoint
    }

    /// The chain of a pull of `image` that a mirror must answer with `probe`:
    /// the run's mirrors (`--mirror`, `HOCKER_MIRROR`), then those of
    /// registries.conf, then the registry at `primaryEndpoint`.
    public init(
        image: ImageReference, probe: SourceProbe, primaryEndpoint: RegistryEndpoint, runMirrors: [MirrorRule],
        registriesConf: RegistriesConfiguration, insecure: Bool
    ) throws(PullSourceError) {
        let plan = try PullPlan(
            image: image, runMirrors: runMirrors, configuration: registriesConf, byDigest: probe.isByDigest(image), insecure: insecure)
        self.init(plan: plan, primaryEndpoint: primaryEndpoint)
    }

    /// The primary source (always the last).
    public var primary: PullSource { plan.sources[plan.sources.count - 1] }

    /// The mirrors, in order.
    public var mirrors: [PullSource] { plan.sources.filter(\.isMirror) }

    /// Whether the pull goes anywhere but `image` at the primary endpoint:
    /// a mirror, or a location rewrite.
    public func divertsFrom(_ image: ImageReference) -> Bool {
        plan.sources.count > 1 || primary.image != image
    }

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
    public func credentialScope(for source: PullSource) -> PullSession.CredentialScope {
        source.isMirror && source.image.registry != primary.image.registry ? .authFilesOnly : .all
    }
}

extension PullSession {
    /// Runs `body` against the first source of `image` that answers `probe`
    /// — its mirrors in order, then the registry at `endpoint` — with the
    /// image as that source names it.
    ///
    /// A mirror is asked once (``SourceProbe``, with no retries, waiting at
    /// most the connect timeout or half the time left), so a broken mirror
    /// costs one request, not a retry budget; once it has answered, every
    /// request of the pull goes to it, with the full retry budget. A mirror
    /// that cannot be reached at all (no answer, a refused connection, a 5xx,
    /// TLS) is remembered and not asked again in this run, with one note.
    /// The primary is tried last, as a run without mirrors would.
    public func withSource<Result: Sendable>(
        _ image: ImageReference, endpoint: RegistryEndpoint, probe: SourceProbe, _ body: (RegistryClient, ImageReference) async throws -> Result
    ) async throws -> Result {
        let chain = try SourceChain(
            image: image, probe: probe, primaryEndpoint: endpoint, runMirrors: options.runMirrors, registriesConf: options.registriesConf,
            insecure: options.insecure)
        var answers: [(source: String, answer: String)] = []
        for source in chain.mirrors {
            if let answer = unreachableMirrors.withLock({ $0[source.image.registry] }) {
                answers.append((source.description, answer))
                continue
            }
            let client = client(for: chain.endpoint(of: source), credentials: chain.credentialScope(for: source), insecure: source.insecure)
            do {
                try await ask(client, probe, image: source.image)
            } catch {
                if error is CancellationError || deadline.hasPassed { throw error }
                answers.append((source.description, passOver(source, error: error)))
                continue
            }
            return try await body(client, source.image)
        }
        let primary = chain.primary
        let client = client(for: chain.endpoint(of: primary), insecure: primary.insecure)
        do {
            return try await body(client, primary.image)
        } catch let error as RegistryError where !answers.isEmpty {
            throw AllSourcesFailed(image: primary.image.description, answers: answers + [(primary.description, error.message)], last: error)
        }
    }

    /// Notes that a mirror cannot serve the pull and remembers one that
    /// cannot be reached; returns its answer, as the final error lists it.
    private func passOver(_ source: PullSource, error: any Error) -> String {
        let answer: String
        if case .timeLimitReached(_, let limit, _)? = error as? RegistryError {
            answer = "no answer within \(limit.shortSeconds) s"
        } else {
            answer = error.userFacingMessage
        }
        var unreachable = false
        if let registryError = error as? RegistryError {
            switch registryError {
            case .transport, .gaveUp, .timeLimitReached, .tls: unreachable = true
            default: break
            }
        }
        // Entries probing the same dead mirror at once note it once: the one that records it.
        let first = unreachable ? unreachableMirrors.withLock { $0.updateValue(answer, forKey: source.image.registry) == nil } : true
        let then = unreachable ? "not asked again in this run; trying the next source" : "trying the next source"
        if first { options.note?("\(source) (\(Self.origin(of: source))) cannot serve \(source.image): \(answer); \(then)") }
        return answer
    }

    /// Asks a mirror what `probe` says, once: no retries, and no longer
    /// than the connect timeout (or half the time left).
    private func ask(_ client: RegistryClient, _ probe: SourceProbe, image: ImageReference) async throws {
        var wait = Duration.nanoseconds(options.client.connectTimeout.nanoseconds)
        if let remaining = deadline.remaining { wait = min(wait, remaining / 2) }
        let probing = client.adjusted { configuration in
            configuration.retries = 0
            configuration.retryObserver = nil
            configuration.deadline = configuration.deadline.cappedAt(wait)
        }
        switch probe {
        case .manifest: _ = try await probing.fetchManifest(image)
        case .manifestDigest: _ = try await probing.manifestDigest(image)
        case .blob(let digest): try await probing.checkBlob(digest, of: image)
        }
    }

    private static func origin(of source: PullSource) -> String {
        if case .mirror(let origin) = source.role { return origin }
        return "primary"
    }
}
