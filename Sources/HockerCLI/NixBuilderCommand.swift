import ArgumentParser
import Foundation
import ImagePull
import ImageReference
import ImageSpec
import NixExpression
import RegistryClient

/// `hocker nix-builder`: the builder of every derivation in `nix/`. Nix runs
/// it with the derivation's attributes in the environment (no shell, no
/// nixpkgs); `hockerAction` says what to build into `$out`:
///
/// - `fetch-blob`: blob `digest` of `repository` at `registry` (a layer, or
///   a config by digest) — a fixed-output derivation;
/// - `fetch-config`: the config of `repository`:`tag` (for `platform`, else
///   the build machine's), as `hocker-config` fetches it;
/// - `docker-archive`: a docker-archive file of `configPath` and
///   `layerPaths` (store paths; `configDigest`, `layerDigests`,
///   `configMediaType`, `layerMediaTypes` are checked or used when set),
///   tagged `finalImageName:finalImageTag` (default: the registry's
///   familiar name for `repository`, and `tag`);
/// - `fetchdocker`: a directory with that archive as `image.tar` and
///   `compositeImage.sh`, which writes it to stdout for `docker load`.
///
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
        let out = try attributes.require("out")
        switch action {
        case "fetch-blob":
            let digest = try Digest(parsing: try attributes.require("digest"), allowBareHex: true)
            let image = try attributes.image(tag: nil)
            log("fetching blob \(digest) of \(image.repository) into \(out)")
            try await withPuller(attributes, context: context) { puller in
                try await puller.fetchBlob(digest, size: nil, of: image, to: out)
            }
        case "fetch-config":
            let image = try attributes.image(tag: try attributes.require("tag"))
            let platform = try PlatformRequest(parsing: attributes["platform"])
            log("fetching the config of \(image.repositoryReference) into \(out)")
            try await withPuller(attributes, context: context) { puller in
                try await puller.fetchConfig(of: image, platform: platform, to: out)
            }
        case "docker-archive":
            try assemble(attributes, into: out, context: context)
        case "fetchdocker":
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            } catch {
                throw OutputError.cannotWrite(path: out, detail: (error as NSError).localizedDescription)
            }
            let archive = out + "/image.tar"
            try assemble(attributes, into: archive, context: context)
            let script = """
                #!/bin/sh
                # Writes the docker-archive of \(attributes["repository"] ?? "the image") to stdout:
                #   \(out)/compositeImage.sh | docker load
                exec cat '\(archive)'

                """
            try writeOutput(Data(script.utf8), out: out + "/compositeImage.sh", context: context)
            guard chmod(out + "/compositeImage.sh", 0o555) == 0 else {
                throw OutputError.cannotWrite(path: out + "/compositeImage.sh", detail: String(cString: strerror(errno)))
            }
        default:
            throw UsageError("hockerAction '\(action)' is none of fetch-blob, fetch-config, docker-archive, fetchdocker")
        }
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("hocker: \(message)\n".utf8))
    }

    /// Runs `body` with a puller for the derivation's registry, credentials
    /// taken from the environment (the impure variables), as every command does.
    private func withPuller(_ attributes: BuilderAttributes, context: CommandContext, _ body: (ImagePuller) async throws -> Void) async throws {
        let resolver = try CredentialResolver(options: CredentialOptions(environment: context.environment, redactor: context.redactor))
        var configuration = RegistryClientConfiguration()
        configuration.insecure = attributes.insecure
        configuration.redactor = context.redactor
        configuration.environment = context.environment
        let client = RegistryClient(endpoint: try attributes.endpoint(), credentials: resolver, configuration: configuration)
        do {
            try await body(ImagePuller(client: client, temporaryPaths: context.temporaryPaths))
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Writes a docker-archive of the config and layer files to `path`.
    private func assemble(_ attributes: BuilderAttributes, into path: String, context: CommandContext) throws {
        let layerPaths = attributes.list("layerPaths")
        let layerDigests = try attributes.list("layerDigests").map { text throws(ReferenceError) in try Digest(parsing: text, allowBareHex: true) }
        let layerMediaTypes = attributes.list("layerMediaTypes")
        guard layerDigests.isEmpty || layerDigests.count == layerPaths.count else {
            throw UsageError("layerDigests has \(layerDigests.count) entries for \(layerPaths.count) layerPaths")
        }
        guard layerMediaTypes.isEmpty || layerMediaTypes.count == layerPaths.count else {
            throw UsageError("layerMediaTypes has \(layerMediaTypes.count) entries for \(layerPaths.count) layerPaths")
        }
        // A store path built by a fixed-output derivation whose hash is the blob's digest was
        // checked by Nix: it is copied in without being hashed again.
        let layerHashes = attributes.list("layerHashes")
        func verified(_ digest: Digest?, hash: String?) -> Bool {
            guard let digest, let hash else { return false }
            return NixHash.digest(fromHash: hash) == digest
        }
        let configDigest = try attributes["configDigest"].map { text throws(ReferenceError) in try Digest(parsing: text, allowBareHex: true) }
        let config = LocalBlob(
            path: try attributes.require("configPath"), digest: configDigest, mediaType: attributes["configMediaType"],
            verified: verified(configDigest, hash: attributes["configHash"]))
        let layers = layerPaths.indices.map { index in
            let digest = layerDigests.isEmpty ? nil : layerDigests[index]
            return LocalBlob(
                path: layerPaths[index], digest: digest, mediaType: layerMediaTypes.isEmpty ? nil : layerMediaTypes[index],
                verified: verified(digest, hash: layerHashes.count == layerPaths.count ? layerHashes[index] : nil))
        }
        let repoTags = try attributes.repoTags()
        log("assembling \(path) from \(layers.count) layers\(repoTags.isEmpty ? "" : " as \(repoTags.joined(separator: ", "))")")
        try DockerArchiveAssembly.write(config: config, layers: layers, repoTags: repoTags, to: path, temporaryPaths: context.temporaryPaths)
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

    /// A list attribute (Nix passes lists space-separated).
    func list(_ name: String) -> [String] {
        (self[name] ?? "").split(separator: " ").map(String.init)
    }

    /// `finalImageName:finalImageTag`, defaulting to the registry's familiar
    /// name for the repository and `tag`; none when there is no tag (or the
    /// "tag" is a digest).
    func repoTags() throws -> [String] {
        let tag = self["finalImageTag"] ?? self["tag"]
        guard let tag, (try? ImageReference.validateTag(tag)) != nil else { return [] }
        if let name = self["finalImageName"] { return ["\(name):\(tag)"] }
        return ["\(try image(tag: nil).familiarName):\(tag)"]
    }
}
