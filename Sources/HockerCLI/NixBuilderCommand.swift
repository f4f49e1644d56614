import ArgumentParser
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
import ImagePull
import ImageReference
import ImageSpec
import NixExpression
import RegistryClient
import RegistryMirrors

/// `hocker nix-builder`: the builder of every derivation in `nix/`. Nix runs
/// it with the derivation's attributes in the environment (no shell, no
/// nixpkgs); `hockerAction` says what to build into `$out`:
///
/// - `fetch-blob`: blob `digest` of `repository` at `registry` (a layer, or
///   a config by digest) — a fixed-output derivation;
/// - `fetch-manifest`: manifest `digest` of `repository`, its exact bytes —
///   a fixed-output derivation (an oci-archive keeps them);
/// - `fetch-config`: the config of `repository`:`tag` — by the digest its
///   `outputHash` stands for, so a moved tag cannot break the pin (else the
///   tag resolved for `platform`, as `hocker-config` does);
/// - `docker-archive`, `oci-archive`: an archive file of `configPath`,
///   `layerPaths` (and for an oci-archive `manifestPath`) — store paths;
///   `*Digest(s)`, `*MediaType(s)` are checked or used when set, and a path
///   whose `*Hash(es)` (its fixed-output hash) is its digest is copied
///   without being hashed again — tagged `finalImageName:finalImageTag`
///   (default: the registry's familiar name for `repository`, and `tag`);
/// - `stream-script`: an executable that writes that archive to stdout
///   from the store paths (`$out | podman load`), no copy of any layer;
/// - `fetchdocker`: a directory with `compositeImage.sh`, which writes the
///   docker-archive to stdout, and, unless `stream` is set, the archive
///   itself as `image.tar`;
/// - `load-script`: an executable that loads `imagePaths` (streamed
///   images, archives) into a docker or podman daemon with this very
///   hocker (`hocker load -i …`), sending only what the daemon lacks.
///
/// `stream-archive` is what a stream script runs: the archive to stdout.
/// Credentials come as for every command: `DOCKER_TOKEN`, `DOCKER_USER` /
/// `DOCKER_PASS`, `REGISTRY_AUTH_FILE` (passed as impure variables).
/// The assembly is deterministic: the same inputs give the same bytes.
struct NixBuilderCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "nix-builder",
        abstract: "Build a derivation of hocker's Nix library (run by Nix, reading the derivation's attributes).",
        shouldDisplay: false)

    func run(in context: CommandContext) async throws {
        do {
            try await build(in: context)
        } catch let error as any UserFacingError {
            throw NixBuildFailure(error)
        }
    }

    private func build(in context: CommandContext) async throws {
        let attributes = BuilderAttributes(context.environment)
        let action = try attributes.require("hockerAction")
        if action == "stream-archive" {
            // Run by a stream script, outside any build: the archive to stdout.
            return try ArchiveAssembly.stream(try attributes.localImage(), to: .standardOutput, shownPath: "standard output")
        }
        let out = try attributes.require("out")
        switch action {
        case "fetch-blob": try await fetchBlob(attributes, to: out, context: context)
        case "fetch-manifest": try await fetchManifest(attributes, to: out, context: context)
        case "fetch-config": try await fetchConfig(attributes, to: out, context: context)
        case "docker-archive", "oci-archive":
            let image = try attributes.localImage()
            log("assembling \(out) from \(Self.layers(image.layers.count))\(image.repoTags.isEmpty ? "" : " as \(image.repoTags.joined(separator: ", "))")")
            try ArchiveAssembly.write(image, to: out, temporaryPaths: context.temporaryPaths)
        case "stream-script": try writeStreamScript(attributes, to: out, context: context)
        case "fetchdocker": try writeFetchdocker(attributes, to: out, context: context)
        case "load-script": try writeLoadScript(attributes, to: out, context: context)
        default:
            throw UsageError(
                "hockerAction '\(action)' is none of fetch-blob, fetch-manifest, fetch-config, docker-archive, oci-archive, stream-script, fetchdocker, load-script, stream-archive")
        }
    }

    /// Blob `digest` of `repository` at `registry`: a layer, or a config by digest.
    private func fetchBlob(_ attributes: BuilderAttributes, to out: String, context: CommandContext) async throws {
        let digest = try Digest(parsing: try attributes.require("digest"), allowBareHex: true)
        let target = try attributes.target(tag: nil)
        log("fetching blob \(digest) of \(target.reference.repository) into \(out)")
        try announceSources(of: target, probe: .blob(digest), attributes: attributes, context: context)
        try await withSession(attributes, context: context) { session in
            try await session.blob(digest, of: target, to: out)
        }
    }

    /// Manifest `digest` of `repository`, its exact bytes.
    private func fetchManifest(_ attributes: BuilderAttributes, to out: String, context: CommandContext) async throws {
        var target = try attributes.target(tag: nil)
        target.reference.digest = try Digest(parsing: try attributes.require("digest"), allowBareHex: true)
        log("fetching manifest \(target.reference.repositoryReference) into \(out)")
        try announceSources(of: target, probe: .manifest, attributes: attributes, context: context)
        let bytes = try await withSession(attributes, context: context) { [target] session in
            try await session.manifest(target, platform: .any, index: true)
        }
        try writeOutput(bytes, out: out, context: context)
    }

    /// The config of `repository`:`tag`: by the digest its `outputHash`
    /// stands for, so a moved tag cannot break the pin; else the tag
    /// resolved for `platform`, as `hocker-config` does.
    private func fetchConfig(_ attributes: BuilderAttributes, to out: String, context: CommandContext) async throws {
        let target = try attributes.target(tag: try attributes.require("tag"))
        if let digest = attributes["outputHash"].flatMap(NixHash.digest(fromHash:)) {
            log("fetching the config of \(target.reference.repositoryReference) by its digest \(digest) into \(out)")
            try announceSources(of: target, probe: .blob(digest), attributes: attributes, context: context)
            try await withSession(attributes, context: context) { session in
                try await session.blob(digest, of: target, to: out)
            }
            return
        }
        let platform = try PlatformChoice(parsing: attributes["platform"].map { [$0] } ?? [])
        log("fetching the config of \(target.reference.repositoryReference) into \(out)")
        try announceSources(of: target, probe: .manifest, attributes: attributes, context: context)
        try await withSession(attributes, context: context) { session in
            try await session.config(target, platform: platform, to: out)
        }
    }

    /// A directory with `compositeImage.sh`, which writes the docker-archive
    /// to stdout, and, unless `stream` is set, the archive as `image.tar`.
    private func writeFetchdocker(_ attributes: BuilderAttributes, to out: String, context: CommandContext) throws {
        guard mkdir(out, 0o755) == 0 else { throw OutputError.cannotWrite(path: out, detail: String(cString: strerror(errno))) }
        if attributes["stream"] == "1" {
            return try writeStreamScript(attributes, to: out + "/compositeImage.sh", context: context)
        }
        let archive = out + "/image.tar"
        try ArchiveAssembly.write(try attributes.localImage(), to: archive, temporaryPaths: context.temporaryPaths)
        let script = """
            #!/bin/sh
            # Writes the docker-archive of \(attributes["repository"] ?? "the image") to stdout:
            #   \(out)/compositeImage.sh | docker load
            exec cat '\(archive)'

            """
        try writeOutput(Data(script.utf8), out: out + "/compositeImage.sh", context: context)
        try makeExecutable(out + "/compositeImage.sh")
    }

    /// Writes an executable that streams the archive the attributes describe
    /// to stdout, with this very hocker, from the store paths (which the
    /// script names, so Nix keeps them as its references).
    private func writeStreamScript(_ attributes: BuilderAttributes, to path: String, context: CommandContext) throws {
        let image = try attributes.localImage()
        var exports = ["hockerAction": "stream-archive"]
        for name in BuilderAttributes.archiveAttributes { if let value = attributes[name] { exports[name] = value } }
        if attributes["hockerAction"] == "fetchdocker" { exports["archiveFormat"] = "docker" }
        let lines = exports.sorted { $0.key < $1.key }.map { "export \($0.key)=\(Self.shellQuoted($0.value))" }
        let script = """
            #!/bin/sh
            # Writes the \(image.format == .ociArchive ? "oci-archive" : "docker-archive") of \(attributes["repository"] ?? "the image") to stdout, from the
            # blobs in the Nix store:  \(path) | podman load
            \(lines.joined(separator: "\n"))
            exec \(Self.shellQuoted(Self.executablePath)) nix-builder

            """
        log("writing \(path), which streams \(Self.layers(image.layers.count))")
        try writeOutput(Data(script.utf8), out: path, context: context)
        try makeExecutable(path)
    }

    /// Writes an executable that loads the images of `imagePaths` into a
    /// docker or podman daemon with this very hocker: `hocker load -i`
    /// each, the script's arguments after (`--host`, `-q`, `--force`). A
    /// streamed image's ID is read from its script, so an image the daemon
    /// has costs one request and no layer; nothing goes to a network.
    private func writeLoadScript(_ attributes: BuilderAttributes, to path: String, context: CommandContext) throws {
        let images = attributes.list("imagePaths")
        guard !images.isEmpty else { throw UsageError("the derivation's 'imagePaths' is empty: give loadImages at least one image") }
        let inputs = images.map { "  -i \(Self.shellQuoted($0)) \\" }
        let script = """
            #!/bin/sh
            # Loads \(images.count == 1 ? "this image" : "these \(images.count) images") into the docker or podman daemon, sending only what it
            # lacks: an image it has (the same ID) is only given the names it lacks. No network.
            # Arguments go to hocker load: --host unix:///run/podman/podman.sock, -q, --force, --jobs N.
            exec \(Self.shellQuoted(Self.executablePath)) load \\
            \(inputs.joined(separator: "\n"))
              "$@"

            """
        log("writing \(path), which loads \(images.count) image\(images.count == 1 ? "" : "s")")
        try writeOutput(Data(script.utf8), out: path, context: context)
        try makeExecutable(path)
    }

    private func makeExecutable(_ path: String) throws {
        guard chmod(path, 0o555) == 0 else { throw OutputError.cannotWrite(path: path, detail: String(cString: strerror(errno))) }
    }

    /// The path of this hocker: the builder Nix started (a store path).
    private static var executablePath: String {
        let argv0 = CommandLine.arguments.first ?? ""
        if argv0.hasPrefix("/") { return argv0 }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? argv0
    }

    /// `text` in single quotes for sh.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacing("'", with: "'\\''") + "'"
    }

    private func log(_ message: String) {
        Self.log(message)
    }

    /// `1 layer`, `2 layers`.
    static func layers(_ count: Int) -> String { "\(count) layer\(count == 1 ? "" : "s")" }

    private static func log(_ message: String) {
        Console.emit(TerminalText.message("hocker: \(message)\n"))
    }

    /// Says where the fetch will look, in order, when that is more than the
    /// derivation's registry: a build log is all a failed build leaves.
    private func announceSources(of target: ImageTarget, probe: SourceProbe, attributes: BuilderAttributes, context: CommandContext) throws {
        let chain = try SourceChain(
            image: target.reference, probe: probe, primaryEndpoint: target.endpoint,
            runMirrors: try ConnectionOptions.runMirrors(flags: [], environment: context.environment),
            registriesConf: try RegistriesConfFiles.load(explicit: nil, environment: context.environment), insecure: attributes.insecure)
        if chain.plan.sources.count > 1 { log("sources, in order: \(chain.plan.sources.map(\.description).joined(separator: ", "))") }
    }

    /// Runs `body` in a session made from the build's environment: the
    /// mirrors of `HOCKER_MIRROR` and registries.conf
    /// (`CONTAINERS_REGISTRIES_CONF`), impure variables, tried before the
    /// derivation's registry; credentials from the environment, as every
    /// command takes them. Nix checks the output's hash, whichever source served it.
    private func withSession<Result: Sendable>(
        _ attributes: BuilderAttributes, context: CommandContext, _ body: @escaping @Sendable (PullSession) async throws -> Result
    ) async throws -> Result {
        var client = RegistryClientConfiguration()
        client.insecure = attributes.insecure
        client.redactor = context.redactor
        client.environment = context.environment
        // In a fixed-output derivation Nix hashes the output and fails the build on a mismatch:
        // a second hash here would only cost time. HOCKER_VERIFY=1 keeps it (to compare).
        client.verifyDigests = attributes["outputHash"] == nil || context.environment["HOCKER_VERIFY"] == "1"
        let options = SessionOptions(
            credentials: try CredentialResolver(options: CredentialOptions(
                environment: context.environment, redactor: context.redactor, children: context.children)),
            client: client, runMirrors: try ConnectionOptions.runMirrors(flags: [], environment: context.environment),
            registriesConf: try RegistriesConfFiles.load(explicit: nil, environment: context.environment), temporaryPaths: context.temporaryPaths,
            note: { message in Self.log(message) })
        return try await PullSession.run(options, body)
    }

}

/// An error inside a Nix build, with hints a Nix user can act on: the
/// attributes and environment of the build, not command-line flags.
struct NixBuildFailure: UserFacingError {
    let underlying: any UserFacingError

    init(_ underlying: any UserFacingError) { self.underlying = underlying }

    var message: String { underlying.message }
    var exitStatus: ExitStatus { underlying.exitStatus }

    var hints: [String] {
        switch (underlying as? RegistryError, underlying as? ImageSpecError) {
        case (.unauthorized?, _), (.denied?, _), (.tokenRequestFailed?, _):
            return [
                "the build takes credentials from DOCKER_USER and DOCKER_PASS, DOCKER_TOKEN or REGISTRY_AUTH_FILE in the environment of nix-build (with a nix-daemon, in the daemon's)"
            ]
        case (.insecureCredentials?, _):
            return ["use an https registry, or pass insecure = true to the fetch if the network is trusted"]
        case (_, .noMatchingPlatform?), (_, .platformMismatch?):
            return ["pass platform = \"os/arch\" (or system) to the function that fetches the image"]
        case (.tls(_, let problem, _)?, _):
            var hints = [
                "the fetches trust the CA bundle passed as cacert to nix/ (import ./nix { hocker = ...; cacert = ...; }), which is their SSL_CERT_FILE; without it, what the sandbox provides (Nix before 2.16 provides none)"
            ]
            if case .clientCertificateRequired = problem {
                hints = ["a client certificate cannot be given to a build; fetch from a registry that does not require one (a pull-through mirror)"]
            }
            return hints + underlying.hints.filter { !$0.contains("--") && !$0.contains("SSL_CERT_FILE") && !$0.contains("certs.d") }
        case (.transport(_, let detail)?, _) where detail.contains("does not resolve"):
            // Reached elsewhere through a mirror of the user's registries.conf, which a sandboxed build does not see.
            return [
                "the build asked the registry itself: no mirror was configured inside it. If hocker reached this registry through mirrors of your registries.conf, the build does not see that file: pass them with HOCKER_MIRROR=HOST[/PATH] in the environment of nix-build (with a nix-daemon, in the daemon's), or point CONTAINERS_REGISTRIES_CONF at a registries.conf the sandbox can read (extra-sandbox-paths)",
                "else check the registry in the expression and the build's name resolution (the sandbox has the host's /etc/hosts and /etc/resolv.conf)",
            ]
        case (.transport?, _), (.gaveUp?, _), (.timeLimitReached?, _):
            return ["check the registry in the expression and the build's network: fixed-output derivations may use it; the proxy variables pass through impureEnvVars"]
        default:
            // Hints that name flags are for the command line, not for a build.
            return underlying.hints.filter { !$0.contains("--") }
        }
    }
}

/// A derivation's attributes as the builder's environment holds them.
struct BuilderAttributes {
    let environment: [String: String]

    init(_ environment: [String: String]) { self.environment = environment }

    /// The attribute, or nil when unset or empty.
    subscript(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func require(_ name: String) throws -> String {
        guard let value = self[name] else {
            throw UsageError("the derivation has no '\(name)' attribute; hocker nix-builder runs as the builder of nix/'s derivations")
        }
        return value
    }

    /// `insecure = "1"`: plain http and TLS without verification.
    var insecure: Bool { self["insecure"] == "1" }

    /// The registry the derivation fetches from.
    func endpoint() throws -> RegistryEndpoint {
        try RegistryEndpoint(parsing: try require("registry"), insecure: insecure)
    }

    /// The derivation's repository (and `tag`) in its registry.
    func image(tag: String?) throws -> ImageReference {
        try ImageReference(registry: try endpoint().name, repository: try require("repository"), tag: tag)
    }

    /// The derivation's image and the registry endpoint it is fetched from.
    func target(tag: String?) throws -> ImageTarget {
        ImageTarget(endpoint: try endpoint(), reference: try image(tag: tag))
    }

    /// A list attribute (Nix passes lists space-separated).
    func list(_ name: String) -> [String] {
        (self[name] ?? "").split(separator: " ").map(String.init)
    }

    /// The attributes an archive is made of, which a stream script passes on.
    static let archiveAttributes = [
        "archiveFormat", "registry", "repository", "tag", "finalImageName", "finalImageTag", "insecure",
        "configPath", "configDigest", "configMediaType", "configHash", "layerPaths", "layerDigests", "layerMediaTypes", "layerHashes",
        "manifestPath", "manifestDigest", "manifestMediaType", "manifestHash",
    ]

    /// The archive the attributes describe. A store path whose
    /// fixed-output hash (`configHash`, `layerHashes`, `manifestHash`) is
    /// its digest was checked by Nix: it is copied in without being hashed
    /// again. A config with only a hash takes its digest from it.
    func localImage() throws -> LocalImage {
        func digest(_ text: String?) throws(ReferenceError) -> Digest? {
            try text.map { text throws(ReferenceError) in try Digest(parsing: text, allowBareHex: true) }
        }
        func blob(path: String, digest given: Digest?, mediaType: String?, hash: String?) -> LocalBlob {
            let fromHash = hash.flatMap(NixHash.digest(fromHash:))
            let digest = given ?? fromHash
            return LocalBlob(path: path, digest: digest, mediaType: mediaType, verified: digest != nil && fromHash == digest)
        }
        let layerPaths = list("layerPaths")
        let layerDigests = try list("layerDigests").map { text throws(ReferenceError) in try Digest(parsing: text, allowBareHex: true) }
        let layerMediaTypes = list("layerMediaTypes")
        let layerHashes = list("layerHashes")
        for (name, count) in [("layerDigests", layerDigests.count), ("layerMediaTypes", layerMediaTypes.count), ("layerHashes", layerHashes.count)]
        where count != 0 && count != layerPaths.count {
            throw UsageError("\(name) has \(count) entries for \(layerPaths.count) layerPaths")
        }
        let layers = layerPaths.indices.map { index in
            blob(
                path: layerPaths[index], digest: layerDigests.isEmpty ? nil : layerDigests[index],
                mediaType: layerMediaTypes.isEmpty ? nil : layerMediaTypes[index], hash: layerHashes.isEmpty ? nil : layerHashes[index])
        }
        let config = blob(path: try require("configPath"), digest: try digest(self["configDigest"]), mediaType: self["configMediaType"], hash: self["configHash"])
        let format: ImageFormat = self["archiveFormat"] == "oci-archive" || self["hockerAction"] == "oci-archive" ? .ociArchive : .docker
        let manifest = try self["manifestPath"].map { path in
            blob(path: path, digest: try digest(self["manifestDigest"]), mediaType: self["manifestMediaType"], hash: self["manifestHash"])
        }
        let tag = self["finalImageTag"] ?? self["tag"]
        let name = try self["finalImageName"] ?? image(tag: nil).description
        return LocalImage(
            format: format, config: config, layers: layers, manifest: manifest, repoTags: try repoTags(), referenceName: tag,
            imageName: tag.map { "\(name):\($0)" })
    }

    /// `finalImageName:finalImageTag`, defaulting to the registry's familiar
    /// name for the repository and `tag`; none when there is no tag (or the
    /// "tag" is a digest).
    func repoTags() throws -> [String] {
        try ImageReference.archiveNames(name: self["finalImageName"], tag: self["finalImageTag"] ?? self["tag"]) { try image(tag: nil) }
    }
}
