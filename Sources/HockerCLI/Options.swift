import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImagePull
import ImageSpec
import ImageReference
import Logging
import RegistryClient
import RegistryMirrors

/// The flags of a command that names an image: `--registry`, every flag
/// of a run against registries (``ConnectionOptions``), `--platform`.
struct RegistryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Registry URI: https://registry-1.docker.io/v2/ (the default), https://host, or host:port.", valueName: "URI"))
    var registry: String?

    @OptionGroup var connection: ConnectionOptions

    @Option(
        name: .customLong("platform"),
        help: ArgumentHelp(
            """
            Platform to pick from a multi-platform image (default: linux/ and this machine's architecture). A single-platform \
            image built for another is refused, unless 'any'. docker2nix, 'image --format oci', 'lock add' and inspect take several, or 'all'.
            """,
            valueName: "os/arch[/variant]"))
    var platforms: [String] = []

    func validate() throws {
        _ = try platformChoice()
    }

    var quiet: Bool { connection.quiet }
    var insecure: Bool { connection.insecure }
    var mirrors: [String] { connection.mirrors }
    var passwordStdin: Bool { connection.passwordStdin }

    /// `--platform`, parsed: none, `all`, `any`, or platforms.
    func platformChoice() throws(PlatformChoiceError) -> PlatformChoice {
        try PlatformChoice(parsing: platforms)
    }

    /// `--platform` of a command that takes at most one (`all` is not one).
    func singlePlatform(command: String) throws(PlatformChoiceError) -> PlatformChoice {
        let choice = try platformChoice()
        guard choice.picksOne else { throw .several(count: max(platforms.count, 2), command: command) }
        return choice
    }

    /// The image the positional arguments name, against `--registry`.
    func target(_ arguments: ImageArguments) throws(ReferenceError) -> ImageTarget {
        try ImageTarget(name: arguments.imageName, tag: arguments.imageTag, registry: registry, insecure: insecure)
    }

    /// ``ConnectionOptions/withSession(context:trust:observer:_:)``.
    func withSession<Result: Sendable>(
        context: CommandContext, trust: TrustOptions? = nil, observer: (any TransferObserver)? = nil,
        _ body: @escaping @Sendable (PullSession) async throws -> Result
    ) async throws -> Result {
        try await connection.withSession(context: context, trust: trust, observer: observer, body)
    }
}

/// The flags of every run against registries, with hocker's spellings:
/// credentials, trust, mirrors, the cache, retries and time limits, what
/// is printed. A command whose images name their registry and platforms
/// (the lock file's entries) takes these alone.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Registry username (with --password).")
    var username: String?

    @Option(name: [.short, .long], help: "Registry password (with --username); it shows in the process list, so prefer --password-stdin.")
    var password: String?

    @Flag(name: .customLong("password-stdin"), help: "Read the password (with --username) from standard input, up to its end or first newline.")
    var passwordStdin = false

    @Option(name: [.short, .long], help: "Bearer token sent as it is (excludes --username/--password).")
    var token: String?

    @Option(
        name: [.customShort("f"), .customLong("credentials-file")],
        help: ArgumentHelp("File with USERNAME=/PASSWORD= or BEARER_TOKEN= lines (also DOCKER_USER=/DOCKER_PASS=/DOCKER_TOKEN=).", valueName: "PATH"))
    var credentialsFile: String?

    @Option(help: ArgumentHelp("Docker config.json or containers auth.json to take credentials from.", valueName: "PATH"))
    var authfile: String?

    @Option(help: ArgumentHelp(
        "Keep blobs by digest in DIR and reuse them, verified, instead of downloading them again (default: $HOCKER_CACHE, else none).",
        valueName: "DIR"))
    var cache: String?

    @Flag(help: "Allow plain http and TLS without certificate verification.")
    var insecure = false

    @Flag(
        name: .customLong("allow-nondistributable-artifacts"),
        help: """
            Fetch a non-distributable (foreign) layer the registry does not hold from the URLs its manifest lists, \
            without credentials (as docker's daemon option of that name).
            """)
    var allowNondistributableArtifacts = false

    @Option(
        name: .customLong("mirror"),
        help: ArgumentHelp(
            """
            A mirror or pull-through cache to try before the registry, for this run (repeatable, tried in order; default: \
            $HOCKER_MIRROR, comma-separated). MIRROR/PATH serves the image under PATH: with mirror.example/hub, \
            docker.io/library/x is pulled as mirror.example/hub/library/x. The first source whose manifest answers serves \
            every blob of the pull; the registry is tried last. Mirrors of registries.conf come after these.
            """,
            valueName: "HOST[:PORT][/PATH]"))
    var mirrors: [String] = []

    @Option(
        name: .customLong("registries-conf"),
        help: ArgumentHelp(
            """
            registries.conf to take [[registry]] mirrors, locations, insecure and blocked from (default: \
            $CONTAINERS_REGISTRIES_CONF, else $XDG_CONFIG_HOME/containers/registries.conf or ~/.config/containers/registries.conf \
            if it exists, else /etc/containers/registries.conf; with the registries.conf.d/*.conf drop-ins beside them). \
            /dev/null: none.
            """,
            valueName: "FILE"))
    var registriesConf: String?

    @Option(
        name: .customLong("cert-dir"),
        help: ArgumentHelp(
            """
            Directory of certificates for the registry, as skopeo takes it: *.crt files are trusted CA certificates, NAME.cert \
            with NAME.key a client certificate (default: ~/.config/containers/certs.d/HOST:PORT, /etc/containers/certs.d/HOST:PORT or \
            /etc/docker/certs.d/HOST:PORT, the first that exists).
            """,
            valueName: "DIR"))
    var certDir: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Retries after connection errors, 429 and 5xx answers, each announced on stderr.", valueName: "N"))
    var retries = 5

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds to wait for data before a transfer counts as stalled; a stall is retried once. Connecting and the TLS handshake wait 10 s at most, or this when less.",
            valueName: "SECONDS"))
    var timeout = 30

    @Option(
        name: .customLong("max-time"), parsing: .unconditional,
        help: ArgumentHelp("Seconds the whole run may take, retries included (default: no limit).", valueName: "SECONDS"))
    var maxTime: Int?

    @Flag(name: [.short, .long], help: "Print nothing but the result and errors.")
    var quiet = false

    @Flag(help: "Log every request to stderr (secrets are never shown).")
    var verbose = false

    func validate() throws {
        guard retries >= 0, retries <= 100 else { throw ValidationError("--retries takes a number from 0 to 100") }
        guard timeout > 0 else { throw ValidationError("--timeout takes a positive number of seconds") }
        guard maxTime.map({ $0 > 0 }) ?? true else { throw ValidationError("--max-time takes a positive number of seconds") }
    }

    // MARK: The session

    /// Runs `body` in a session of these options: everything the run
    /// needs read once, here, before any request — standard input (for
    /// `--password-stdin`), the credentials files, registries.conf, the
    /// mirrors — and the whole run bounded by `--max-time`.
    ///
    /// A command that applies a signature policy passes its ``TrustOptions``:
    /// the policy, registries.d and the policy's keys are read here too.
    func withSession<Result: Sendable>(
        context: CommandContext, trust: TrustOptions? = nil, observer: (any TransferObserver)? = nil,
        _ body: @escaping @Sendable (PullSession) async throws -> Result
    ) async throws -> Result {
        try await PullSession.run(try sessionOptions(context: context, trust: trust, observer: observer), body)
    }

    /// The session's options, read from the flags, the environment and the files they name.
    func sessionOptions(context: CommandContext, trust: TrustOptions? = nil, observer: (any TransferObserver)? = nil) throws -> SessionOptions {
        let console = context.console
        var notes: (@Sendable (String) -> Void)?
        if !quiet { notes = { message in console.note("hocker: " + message) } }
        return SessionOptions(
            credentials: try credentialResolver(context: context), client: clientConfiguration(context: context),
            maxTime: maxTime.map { .seconds($0) }, runMirrors: try Self.runMirrors(flags: mirrors, environment: context.environment),
            registriesConf: try RegistriesConfFiles.load(explicit: registriesConf, environment: context.environment),
            cache: try blobCache(context: context), observer: observer, temporaryPaths: context.temporaryPaths,
            note: notes, warn: warnings(context: context), logger: makeLogger(redactor: context.redactor),
            trust: try trust?.settings(environment: context.environment) ?? .none)
    }

    /// Reads and checks credentials before any network traffic.
    func credentialResolver(context: CommandContext) throws(CredentialError) -> CredentialResolver {
        var password = password
        if passwordStdin {
            guard self.password == nil else { throw .incomplete("--password and --password-stdin exclude each other") }
            guard username != nil else { throw .incomplete("--password-stdin needs --username") }
            password = context.standardInput.password()
            guard password?.isEmpty == false else { throw .incomplete("--password-stdin read no password from standard input") }
        }
        return try CredentialResolver(options: CredentialOptions(
            username: username, password: password, token: token, credentialsFile: credentialsFile, authFile: authfile,
            environment: context.environment, redactor: context.redactor, children: context.children))
    }

    /// The blob cache from `--cache` or `HOCKER_CACHE`, if any.
    func blobCache(context: CommandContext) throws(OutputError) -> BlobCache? {
        guard let directory = cache ?? context.environment["HOCKER_CACHE"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        return try BlobCache(directory: directory, temporaryPaths: context.temporaryPaths)
    }

    /// The client's settings; every retry is announced on stderr unless `--quiet`.
    func clientConfiguration(context: CommandContext) -> RegistryClientConfiguration {
        var configuration = RegistryClientConfiguration()
        let redactor = context.redactor
        configuration.redactor = redactor
        if !quiet {
            let console = context.console
            configuration.retryObserver = { notice in console.note("hocker: \(redactor.redact(notice.description))") }
        }
        configuration.insecure = insecure
        configuration.nondistributableURLs = allowNondistributableArtifacts
        configuration.certDirectory = certDir
        configuration.environment = context.environment
        configuration.retries = retries
        configuration.readTimeout = .seconds(Int64(timeout))
        // Connecting (and the TLS handshake, which the client bounds by the same limit) is waiting for data too.
        configuration.connectTimeout = .seconds(Int64(min(timeout, 10)))
        return configuration
    }

    /// The mirrors of `--mirror` values, else of `HOCKER_MIRROR` (comma-separated).
    static func runMirrors(flags mirrors: [String], environment: [String: String]) throws(PullSourceError) -> [MirrorRule] {
        if !mirrors.isEmpty { return try PullPlan.mirrors(parsing: mirrors, origin: "--mirror") }
        let variable = environment["HOCKER_MIRROR"] ?? ""
        return try PullPlan.mirrors(parsing: variable.split(separator: ",").map(String.init), origin: "HOCKER_MIRROR")
    }

    /// Where warnings go: a line on stderr, above any progress; none with `--quiet`.
    func warnings(context: CommandContext) -> (@Sendable (String) -> Void)? {
        guard !quiet else { return nil }
        let console = context.console
        return { message in console.note("hocker: warning: \(message)") }
    }

    func makeLogger(redactor: SecretRedactor) -> Logger {
        var logger = Logger(label: "hocker") { label in
            RedactingLogHandler(StreamLogHandler.standardError(label: label), redactor: redactor)
        }
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }
}

/// The signature policy of the commands that apply one (`image`,
/// `docker2nix`, `lock add|update|check`, `verify`), as skopeo takes it.
struct TrustOptions: ParsableArguments {
    @Option(
        name: .customLong("policy"),
        help: ArgumentHelp(
            """
            containers-policy.json(5) saying which signatures an image needs (default: $XDG_CONFIG_HOME/containers/policy.json \
            or ~/.config/containers/policy.json if it exists, else /etc/containers/policy.json; with none of them, images are \
            taken unverified).
            """,
            valueName: "FILE"))
    var policy: String?

    @Flag(name: .customLong("insecure-policy"), help: "Verify no signature, whatever the policy file says.")
    var insecurePolicy = false

    @Option(
        name: .customLong("registries.d"),
        help: ArgumentHelp(
            """
            Directory of containers-registries.d(5) *.yaml files saying where signatures are: lookaside URLs, \
            use-sigstore-attachments (default: ~/.config/containers/registries.d if it exists, else /etc/containers/registries.d).
            """,
            valueName: "DIR"))
    var registriesD: String?

    func validate() throws {
        if insecurePolicy, policy != nil { throw ValidationError("--insecure-policy and --policy exclude each other") }
    }

    /// The policy, registries.d and the policy's key files, read once.
    func settings(environment: [String: String]) throws -> TrustSettings {
        try TrustFiles.load(policy: policy, insecurePolicy: insecurePolicy, registriesD: registriesD, environment: environment)
    }
}

/// hocker's positional arguments: `IMAGE-NAME IMAGE-TAG`, or one reference.
struct ImageArguments: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "Image name relative to --registry (library/debian), or a full reference (debian:bookworm, ghcr.io/o/i@sha256:...).",
        valueName: "IMAGE-NAME"))
    var imageName: String

    @Argument(help: ArgumentHelp("Tag or sha256: digest; omit when IMAGE-NAME carries one.", valueName: "IMAGE-TAG"))
    var imageTag: String?
}

