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
import SystemPackage

/// What `docker2nix` prints.
enum NixOutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// hocker's `fetchdocker` expression, for nixpkgs or `nix/` (the default).
    case fetchdocker
    /// `{ fetchImage }: fetchImage { ... }` for `nix/`, SRI hashes, several platforms.
    case hocker
    /// The pin as a JSON document (`ImagePin`).
    case json
}

/// `hocker docker2nix` / `docker2nix`.
struct DockerToNixCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "docker2nix",
        abstract: "Generate a Nix expression that fetches an image, pinned by digest.",
        discussion: """
            Where the manifest comes from: --manifest PATH ('-' for stdin); --fetch to fetch \
            it, whatever stdin is; else standard input when it is a pipe holding one, or a \
            redirected file holding one (a file that is not a manifest is left unread, so \
            `while read i; do docker2nix "$i"; done < list` fetches each); else (a terminal, \
            /dev/null) docker2nix fetches it from the registry, resolving an index for \
            --platform, with the same credentials as the other commands. A piped index is \
            refused: pick a platform first. A piped manifest with no registry named is \
            pinned to Docker Hub, with a warning.

            Formats: fetchdocker (default) is hocker's expression for nixpkgs' fetchdocker or \
            this project's nix/ library, one platform, sha256 in Nix base-32. hocker is an \
            expression for nix/'s fetchImage with SRI hashes and one or more platforms \
            (--platform repeated, or --platform all), picked by system at evaluation. json \
            (or --json) prints the same pin as a JSON document.

            An OCI artifact (an SBOM, a signature: artifactType, or a config or layers that \
            are not an image's) is no image a docker-archive holds: the fetchdocker format \
            refuses it; hocker and json pin it with its artifactType, and nix/'s fetchImage \
            builds it only with format = "oci-archive" (the manifest and its blobs as they are).

            Examples:
              hocker-manifest library/debian jessie | docker2nix library/debian jessie
              docker2nix --manifest m.json --altName mydebian library/debian jessie
              docker2nix --format hocker --platform all debian:bookworm
              docker2nix --json --platform linux/arm64 ghcr.io/org/app:v1
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments
    @OptionGroup var trust: TrustOptions

    @Option(help: ArgumentHelp("Read the image manifest from PATH ('-' for stdin) instead of fetching it.", valueName: "PATH"))
    var manifest: String?

    @Flag(help: "Fetch the manifest from the registry, never reading stdin.")
    var fetch = false

    @Option(
        name: [.customLong("altName"), .customLong("altImageName")],
        help: ArgumentHelp("The name the expression gives the image (default: the last component of IMAGE-NAME).", valueName: "TEXT"))
    var altName: String?

    @Option(help: "fetchdocker (hocker's expression), hocker (for nix/'s fetchImage) or json.")
    var format: NixOutputFormat = .fetchdocker

    @Flag(help: "Print the pin as JSON (--format json).")
    var json = false

    @Option(help: ArgumentHelp(OutputHelp.text("output"), valueName: "PATH"))
    var out: String?

    /// The format after `--json`.
    var effectiveFormat: NixOutputFormat { json ? .json : format }

    func validate() throws {
        if fetch && manifest != nil { throw ValidationError("--fetch and --manifest exclude each other") }
        if json && format == .hocker { throw ValidationError("--json and --format hocker exclude each other") }
        if effectiveFormat == .fetchdocker, !(try registryOptions.platformChoice()).picksOne {
            throw ValidationError("the fetchdocker format pins one platform; use --format hocker or --json for several")
        }
    }

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        // With --password-stdin, stdin holds the password, not a manifest.
        let source = fetch || registryOptions.passwordStdin ? .registry : try ManifestSource.choose(manifestOption: manifest)
        if case .given(_, let origin) = source, registryOptions.registry == nil, !target.reference.explicitRegistry, !registryOptions.quiet {
            context.console.note(
                "hocker: warning: the manifest from \(origin) is pinned to Docker Hub (\(target.registryURI)); name its registry with --registry or in IMAGE-NAME if it came from another")
        }
        // With nothing fetched, whether a bare loopback (or --insecure) host speaks https or plain http is unknown.
        if case .given = source, target.endpoint.fallsBackToPlainHTTP, !registryOptions.quiet {
            context.console.note(
                "hocker: warning: recording \(target.registryURI) without asking the registry; if it speaks plain http, give --registry \(target.endpoint.plainHTTP.v2URL)")
        }
        let text: String
        switch effectiveFormat {
        case .fetchdocker:
            let (manifest, registryURI) = try await fetchDockerManifest(target: target, source: source, context: context)
            text = try FetchDockerExpression.render(fetchDockerImage(target: target, registryURI: registryURI, manifest: manifest))
        case .hocker:
            text = try HockerImageExpression.render(try await pin(target: target, source: source, context: context))
        case .json:
            let pin = try await pin(target: target, source: source, context: context)
            // The JSON pin is for nix/ too: its hashes must be ones Nix takes.
            _ = try pin.nixValue()
            text = String(decoding: try pin.jsonBytes(), as: UTF8.self)
        }
        try writeOutput(Data(text.utf8), out: out, context: context)
    }

    // MARK: The hocker-compatible expression

    /// The image manifest, and the registry URI to record: the one the
    /// client used (a bare loopback host is recorded as https or http, as it
    /// answered), or `--registry` as given when nothing was fetched.
    private func fetchDockerManifest(target: ImageTarget, source: ManifestSource, context: CommandContext) async throws -> (ImageManifest, String) {
        switch source {
        case .given(let bytes, let origin):
            let manifest = try imageManifest(parsing: bytes, origin: origin, target: target).1
            if let artifact = manifest.artifact {
                throw ImageSpecError.notAnImage(image: "the manifest on \(origin)", artifactType: artifact, refusedBy: .fetchdockerExpression)
            }
            return (manifest, target.registryURI)
        case .registry:
            let platform = try registryOptions.singlePlatform(command: "docker2nix --format fetchdocker")
            // The expression names the registry, whichever source answered: the digests are the same.
            let (resolved, registryURI) = try await registryOptions.withSession(context: context, trust: trust) { session in
                try await session.resolveImage(target, platform: platform)
            }
            if resolved.index != nil, platform != .host, !registryOptions.quiet {
                context.console.note("""
                    hocker: warning: \(target.reference) is a multi-platform image; fetchDockerConfig resolves the tag again at \
                    build time, for the build machine's platform (\(Platform.host)), not \(platform). Use --format hocker to pin \
                    other platforms.
                    """)
            }
            return (resolved.manifest, registryURI)
        }
    }

    private func fetchDockerImage(target: ImageTarget, registryURI: String, manifest: ImageManifest) -> FetchDockerImage {
        let (repository, imageName) = FetchDockerImage.split(repositoryPath: target.reference.repository)
        return FetchDockerImage(
            name: altName ?? imageName, registry: registryURI, repository: repository, imageName: imageName,
            tag: target.reference.tag ?? target.reference.digest?.description ?? "latest",
            config: manifest.config, layers: manifest.layers)
    }

    // MARK: The pin (--format hocker, --json)

    private func pin(target: ImageTarget, source: ManifestSource, context: CommandContext) async throws -> ImagePin {
        let repository = target.reference.repository
        let name = altName ?? FetchDockerImage.split(repositoryPath: repository).imageName
        switch source {
        case .given(let bytes, let origin):
            let (document, manifest) = try imageManifest(parsing: bytes, origin: origin, target: target)
            // Only a platform the user named can be recorded: nothing is fetched.
            // It is recorded as parsed (lowercase), and `all` names none.
            var platform: Platform?
            if case .platforms(let named) = try registryOptions.platformChoice(), named.count == 1 { platform = named[0] }
            return ImagePin(
                name: name, registry: target.registryURI, repository: repository, tag: target.reference.tag,
                images: [ImagePin.PlatformImage(platform: platform, document: document, manifest: manifest)])
        case .registry:
            let platforms = try registryOptions.platformChoice()
            return try await registryOptions.withSession(context: context, trust: trust) { session in
                try await session.pin(target, platforms: platforms, name: name)
            }
        }
    }

    // MARK: Manifests given on stdin or in a file

    private func imageManifest(parsing bytes: Data, origin: String, target: ImageTarget) throws -> (ManifestDocument, ImageManifest) {
        let fetched: ManifestDocument
        do {
            fetched = try ManifestDocument(bytes: bytes, contentType: nil)
        } catch {
            // A --manifest file is the user's input: a usage error (exit 2) naming the file.
            guard origin != "stdin" else { throw error }
            throw UsageError("the manifest in \(origin) is not usable: \(error.message)")
        }
        switch fetched.content {
        case .image(let manifest):
            return (fetched, manifest)
        case .index(let index):
            throw DockerToNixError.indexGiven(
                origin: origin, platforms: index.platforms.map(\.description), arguments: hockerArguments(target))
        }
    }

    /// IMAGE-NAME [IMAGE-TAG] (and --registry) as the user gave them, for hints.
    private func hockerArguments(_ target: ImageTarget) -> String {
        var words: [String] = []
        if let registry = registryOptions.registry { words += ["--registry", registry] }
        words.append(image.imageName)
        if let tag = image.imageTag { words.append(tag) }
        return words.joined(separator: " ")
    }
}

/// Where `docker2nix` takes the manifest from.
enum ManifestSource {
    /// Bytes from `--manifest` or standard input, and a phrase naming where they came from.
    case given(Data, origin: String)
    /// Nothing given: fetch it.
    case registry

    /// Manifests are small; anything bigger is not one.
    static let sizeLimit = 4 << 20

    /// `--manifest PATH` (or `-`); else standard input when it is a pipe or
    /// socket, or a regular file that holds a manifest; else the registry.
    static func choose(manifestOption: String?) throws -> ManifestSource {
        if let path = manifestOption {
            if path == "-" { return .given(try readStandardInput(), origin: "stdin") }
            let data: Data
            do {
                data = try LocalFile.read(path, limit: sizeLimit + 1)
            } catch {
                throw DockerToNixError.unreadableManifest(path: path, detail: error.reason)
            }
            guard !data.isEmpty else { throw DockerToNixError.emptyManifest(origin: path) }
            guard data.count <= sizeLimit else { throw DockerToNixError.manifestTooLarge(origin: path) }
            return .given(data, origin: path)
        }
        var status = stat()
        guard fstat(STDIN_FILENO, &status) == 0 else { return .registry }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            // A redirected file is looked at where its reader stands, without
            // moving it: what is not a manifest is left for whoever reads next.
            guard let data = peekStandardInput(size: Int64(status.st_size)), looksLikeManifest(data) else { return .registry }
            return .given(data, origin: "stdin")
        case S_IFIFO, S_IFSOCK:
            let data = try readStandardInput()
            guard looksLikeManifest(data) else { throw DockerToNixError.stdinIsNoManifest(start: String(decoding: data.prefix(40), as: UTF8.self)) }
            return .given(data, origin: "stdin")
        default:
            return .registry
        }
    }

    /// Whether bytes are a JSON object with a `schemaVersion`: a manifest
    /// (perhaps a bad one, reported as such), not a list of names.
    static func looksLikeManifest(_ data: Data) -> Bool {
        struct Probe: Decodable {
            var hasSchemaVersion: Bool

            enum Key: String, CodingKey { case schemaVersion }

            init(from decoder: any Decoder) throws {
                hasSchemaVersion = try decoder.container(keyedBy: Key.self).contains(.schemaVersion)
            }
        }
        return (try? JSONDecoder().decode(Probe.self, from: data))?.hasSchemaVersion == true
    }

    /// Standard input's bytes from its current offset, read with `pread` so
    /// the offset does not move; nil when it cannot be read that way.
    private static func peekStandardInput(size: Int64) -> Data? {
        let offset = lseek(STDIN_FILENO, 0, SEEK_CUR)
        guard offset >= 0, size - Int64(offset) <= Int64(sizeLimit) else { return nil }
        var buffer = [UInt8](repeating: 0, count: Int(size - Int64(offset)))
        let count = buffer.withUnsafeMutableBytes { pread(STDIN_FILENO, $0.baseAddress, $0.count, off_t(offset)) }
        guard count >= 0 else { return nil }
        return Data(buffer.prefix(count))
    }

    private static func readStandardInput() throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try FileDescriptor.standardInput.read(into: $0) }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
            guard data.count <= sizeLimit else { throw DockerToNixError.manifestTooLarge(origin: "stdin") }
        }
        guard !data.isEmpty else { throw DockerToNixError.emptyManifest(origin: "stdin") }
        return data
    }
}

/// A `docker2nix` failure that is not the registry's.
enum DockerToNixError: UserFacingError {
    case indexGiven(origin: String, platforms: [String], arguments: String)
    /// A pipe on stdin, read whole, held something that is not a manifest.
    case stdinIsNoManifest(start: String)
    case emptyManifest(origin: String)
    case unreadableManifest(path: String, detail: String)
    case manifestTooLarge(origin: String)

    var message: String {
        switch self {
        case .indexGiven(let origin, let platforms, _):
            let listed = platforms.isEmpty ? "no platforms" : platforms.joined(separator: ", ")
            return "the manifest on \(origin) is an index (a multi-platform manifest list), not an image manifest; its platforms: \(listed)"
        case .emptyManifest(let origin):
            return "no manifest on \(origin): it is empty"
        case .stdinIsNoManifest(let start):
            let shown = start.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(String.init).joined()
            return "docker2nix read its standard input (a pipe) for a manifest, and what it holds is not one (it starts \"\(shown)\")"
        case .unreadableManifest(let path, let detail):
            return "cannot read the manifest \(path): \(detail)"
        case .manifestTooLarge(let origin):
            return "the manifest on \(origin) is larger than \(ManifestSource.sizeLimit >> 20) MiB; it is not an image manifest"
        }
    }

    var hints: [String] {
        switch self {
        case .indexGiven(_, let platforms, let arguments):
            let example = platforms.first ?? Platform.host.description
            return [
                "pick one platform's manifest: hocker-manifest --platform \(example) \(arguments) | docker2nix \(arguments)",
                "or let docker2nix fetch and resolve it (no piped manifest): docker2nix --platform \(example) \(arguments)",
                "several platforms at once: docker2nix --format hocker --platform all \(arguments)",
            ]
        case .stdinIsNoManifest:
            return ["to fetch the manifest from the registry instead: docker2nix --fetch ..., or docker2nix ... </dev/null"]
        case .emptyManifest:
            return [
                "pipe an image manifest (hocker-manifest NAME TAG | docker2nix NAME TAG), or run docker2nix without a pipe (stdin a terminal or </dev/null) to fetch it from the registry"
            ]
        default:
            return []
        }
    }
}
