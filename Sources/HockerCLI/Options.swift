import ArgumentParser
import Foundation
import ImagePull
import ImageSpec
import ImageReference
import Logging
import RegistryClient
import RegistryMirrors

/// The flags every registry command shares, with hocker's spellings.
struct RegistryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Registry URI: https://registry-1.docker.io/v2/ (the default), https://host, or host:port.", valueName: "URI"))
    var registry: String?

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

    @Option(
        name: .customLong("platform"),
        help: ArgumentHelp(
            """
            Platform to pick from a multi-platform image (default: linux/ and this machine's architecture). A single-platform \
            image built for another is refused, unless 'any'. docker2nix, 'image --format oci', 'lock add' and inspect take several, or 'all'.
            """,
            valueName: "os/arch[/variant]"))
    var platforms: [String] = []

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
        help: ArgumentHelp("Retries after connection errors, 429 and 5xx answers, each announced on stderr (default 5).", valueName: "N"))
    var retries = 5

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds to wait for data before a transfer counts as stalled; a stall is retried once (default 30). Connecting and the TLS handshake wait 10 s at most, or this when less.",
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

    /// The one `--platform` a command takes; given twice it is a usage error.
    func platformRequest() throws -> PlatformRequest {
        guard platforms.count <= 1 else {
            throw UsageError(
                "--platform is given \(platforms.count) times; this command takes one",
                hints: ["several platforms: hocker image --format oci, or docker2nix --format hocker"])
        }
        return try PlatformRequest(parsing: platforms.first)
    }

    /// Reads and checks credentials before any network traffic.
    func credentialResolver(redactor: SecretRedactor) throws(CredentialError) -> CredentialResolver {
        var password = password
        if passwordStdin {
            guard self.password == nil else { throw .incomplete("--password and --password-stdin exclude each other") }
            guard username != nil else { throw .incomplete("--password-stdin needs --username") }
            password = Self.readPasswordFromStandardInput()
            guard password?.isEmpty == false else { throw .incomplete("--password-stdin read no password from standard input") }
        }
        return try CredentialResolver(options: CredentialOptions(
            username: username, password: password, token: token, credentialsFile: credentialsFile, authFile: authfile,
            redactor: redactor))
    }

    /// Standard input up to its end or first newline (a trailing CR too), as `docker login --password-stdin` reads it.
    private static func readPasswordFromStandardInput() -> String? {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else { return nil }
        return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
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
        configuration.maxTime = maxTime.map { .seconds($0) }
        return configuration
    }

    /// The mirrors of this run: `--mirror`, else `HOCKER_MIRROR` (comma-separated).
    func runMirrors(environment: [String: String]) throws(PullSourceError) -> [MirrorRule] {
        try Self.runMirrors(flags: mirrors, environment: environment)
    }

    /// The mirrors of `--mirror` values, else of `HOCKER_MIRROR` (comma-separated).
    static func runMirrors(flags mirrors: [String], environment: [String: String]) throws(PullSourceError) -> [MirrorRule] {
        if !mirrors.isEmpty { return try PullPlan.mirrors(parsing: mirrors, origin: "--mirror") }
        let variable = environment["HOCKER_MIRROR"] ?? ""
        return try PullPlan.mirrors(parsing: variable.split(separator: ",").map(String.init), origin: "HOCKER_MIRROR")
    }

    /// Makes the source chain of any image at an endpoint, asked with a
    /// probe: registries.conf, the mirrors and the credentials are read
    /// once, here, before any request.
    func sourceChains(context: CommandContext) throws -> @Sendable (ImageReference, RegistryEndpoint, SourceProbe) throws -> SourceChain {
        let configuration = try RegistriesConfFiles.load(explicit: registriesConf, environment: context.environment)
        let mirrors = try runMirrors(environment: context.environment)
        let resolver = try credentialResolver(redactor: context.redactor)
        let logger = makeLogger(redactor: context.redactor)
        let clientConfiguration = clientConfiguration(context: context)
        let insecure = insecure
        let console = context.console
        let note: (@Sendable (String) -> Void)?
        if quiet {
            note = nil
        } else {
            note = { message in console.note("hocker: \(message)") }
        }
        return { image, endpoint, probe throws in
            try SourceChain(
                image: image, probe: probe, primaryEndpoint: endpoint, runMirrors: mirrors, registriesConf: configuration, insecure: insecure,
                credentials: resolver, configuration: clientConfiguration, note: note
            ) { endpoint, credentials, configuration in
                RegistryClient(endpoint: endpoint, credentials: credentials, configuration: configuration, logger: logger)
            }
        }
    }

    func makeLogger(redactor: SecretRedactor) -> Logger {
        var logger = Logger(label: "hocker") { label in
            RedactingLogHandler(StreamLogHandler.standardError(label: label), redactor: redactor)
        }
        logger.logLevel = verbose ? .debug : .warning
        return logger
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

/// An image and the registry endpoint to fetch it from.
struct ImageTarget: Sendable {
    var endpoint: RegistryEndpoint
    var reference: ImageReference
    /// The registry as hocker printed it, `https://host/v2/`.
    var registryURI: String { endpoint.v2URL }

    /// Resolves the positional arguments against `--registry`.
    ///
    /// With two arguments the name is relative to `--registry` (Docker Hub
    /// by default) and the second is a tag or a digest. With one, it is a
    /// reference; a registry host in it must agree with `--registry`.
    init(arguments: ImageArguments, registry: String?, insecure: Bool) throws(ReferenceError) {
        try self.init(name: arguments.imageName, tag: arguments.imageTag, registry: registry, insecure: insecure)
    }

    /// Resolves an image name (a reference) and an optional tag or digest against `--registry`.
    init(name imageName: String, tag imageTag: String?, registry: String?, insecure: Bool) throws(ReferenceError) {
        let arguments = (imageName: imageName, imageTag: imageTag)
        let given = try registry.map { text throws(ReferenceError) in try RegistryEndpoint(parsing: text, insecure: insecure) }
        let defaultName = given?.name ?? ImageReference.dockerHub
        var reference = try ImageReference(parsing: arguments.imageName, defaultRegistry: defaultName)
        if let tagText = arguments.imageTag {
            guard reference.tag == nil, reference.digest == nil else {
                throw .invalidReference(arguments.imageName, reason: "it carries a tag or digest and IMAGE-TAG '\(tagText)' was given too")
            }
            if tagText.contains(":") {
                reference.digest = try Digest(parsing: tagText)
            } else {
                try ImageReference.validateTag(tagText)
                reference.tag = tagText
            }
        }
        if let given {
            if reference.explicitRegistry, reference.registry != given.name {
                throw .invalidReference(arguments.imageName, reason: "it names registry \(reference.registry) but --registry is \(given.host)")
            }
            endpoint = given
        } else {
            endpoint = RegistryEndpoint(registryName: reference.registry, insecure: insecure)
        }
        self.reference = reference
    }
}
