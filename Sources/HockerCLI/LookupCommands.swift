import ArgumentParser
import Foundation
import ImagePull
import ImageReference
import ImageSpec
import RegistryClient

// The look-ups an update needs: which tags there are, what a tag names,
// and its digest.

/// `hocker tags`.
struct TagsCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "tags",
        abstract: "List every tag of a repository, following the registry's pages.",
        discussion: """
            One tag per line, in the registry's order; --json prints {"name": ..., "tags": [...]}.

            Examples:
              hocker tags debian
              hocker tags 127.0.0.1:5000/team/app --json
              hocker tags --registry https://ghcr.io org/app --page-size 100
            """)

    @OptionGroup var registryOptions: RegistryOptions

    @Argument(help: ArgumentHelp("The repository: debian, ghcr.io/org/app, or a name relative to --registry.", valueName: "REPOSITORY"))
    var repository: String

    @Option(name: .customLong("page-size"), help: ArgumentHelp("Tags asked for per page (default: as many as the registry sends).", valueName: "N"))
    var pageSize: Int?

    @Flag(help: "Print a JSON document instead of one tag per line.")
    var json = false

    func validate() throws {
        if let pageSize, pageSize < 1 { throw ValidationError("--page-size takes a positive number") }
        if !registryOptions.platforms.isEmpty { throw ValidationError("--platform is not for this command: tags are not per platform") }
        // A mirror's tag list is whatever it happens to hold; the registry's is the one that counts.
        if !registryOptions.mirrors.isEmpty { throw ValidationError("--mirror is for pulls; hocker tags lists the registry's own tags") }
    }

    func run(in context: CommandContext) async throws {
        let target = try ImageTarget(name: repository, tag: nil, registry: registryOptions.registry, insecure: registryOptions.insecure)
        guard target.reference.tag == nil, target.reference.digest == nil else {
            throw UsageError("'\(repository)' names a tag or digest; hocker tags takes a repository", hints: ["hocker tags \(target.reference.registry)/\(target.reference.repository)"])
        }
        let tags = try await withRegistryClient(registryOptions, endpoint: target.endpoint, context: context) { client in
            try await client.tags(of: target.reference.repository, pageSize: pageSize)
        }
        if json {
            struct Document: Encodable {
                var name: String
                var tags: [String]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try writeOutput(try encoder.encode(Document(name: target.reference.repository, tags: tags)) + Data("\n".utf8), out: nil, context: context)
        } else if !tags.isEmpty {
            try writeOutput(Data((tags.joined(separator: "\n") + "\n").utf8), out: nil, context: context)
        }
    }
}

/// `hocker inspect`.
struct InspectCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe an image: its digest, media type, and per platform the manifest, size, created time and labels.",
        discussion: """
            Reads manifests and configs, never a layer. For an index, every platform (or those \
            --platform names); --raw prints the manifest instead, byte for byte as served (the \
            index itself, or with one --platform that platform's manifest).

            Examples:
              hocker inspect debian:bookworm
              hocker inspect --json --platform linux/arm64 127.0.0.1:5000/team/app:1.2
              hocker inspect --raw ghcr.io/org/app:v1 | sha256sum
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    @Flag(help: "Print a JSON document.")
    var json = false

    @Flag(help: "Print the manifest as served (the index itself, or one --platform's manifest).")
    var raw = false

    func validate() throws {
        if json && raw { throw ValidationError("--json and --raw exclude each other") }
        let platforms = registryOptions.platforms
        if platforms.contains("all"), platforms.count > 1 { throw ValidationError("--platform all takes no other --platform") }
        if raw, platforms.count > 1 || platforms == ["all"] { throw ValidationError("--raw prints one manifest: give at most one --platform") }
        for text in platforms where text != "all" { _ = try Platform(parsing: text) }
    }

    func run(in context: CommandContext) async throws {
        let target = try ImageTarget(arguments: image, registry: registryOptions.registry, insecure: registryOptions.insecure)
        let platforms = try registryOptions.platforms.filter { $0 != "all" }.map { text in try Platform(parsing: text) }
        if raw {
            let bytes = try await withImageSource(registryOptions, target: target, context: context) { client, source in
                guard let platform = platforms.first else { return try await client.fetchManifest(source).bytes }
                return try await registryOptions.puller(client, context: context)
                    .resolve(source, platform: .exactly(platform), readConfig: false).image.document.bytes
            }
            try writeOutput(bytes, out: nil, context: context)
            return
        }
        var inspection = try await withImageSource(registryOptions, target: target, context: context) { client, source in
            try await ImageInspection.inspect(source, selection: platforms.isEmpty ? .all : .platforms(platforms), client: client)
        }
        // The image as the user named it, whichever source answered.
        inspection.reference = "\(target.endpoint.name)/\(target.reference.repositoryReference)"
        if json {
            try writeOutput(try inspection.jsonBytes(), out: nil, context: context)
        } else {
            try writeOutput(Data(Self.text(inspection).utf8), out: nil, context: context)
        }
    }

    /// The inspection as a person reads it.
    static func text(_ inspection: ImageInspection) -> String {
        var lines = [inspection.reference, "digest      \(inspection.digest)", "media type  \(inspection.mediaType)"]
        for image in inspection.images {
            lines.append("")
            lines.append("\(image.platform ?? "(no platform)")")
            lines.append("  manifest  \(image.manifestDigest) (\(image.manifestSize) bytes, \(image.manifestMediaType))")
            lines.append("  size      \(ProgressReporter.formatBytes(image.size)) in \(image.layers) layer\(image.layers == 1 ? "" : "s") and the config")
            lines.append("  created   \(image.created ?? "(not said)")")
            for (key, value) in image.labels.sorted(by: { $0.key < $1.key }) { lines.append("  label     \(key)=\(value)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `hocker digest`.
struct DigestCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the digest a reference names, from one HEAD request.",
        discussion: """
            The digest of what the tag names (an index, or an image manifest), from the \
            registry's Docker-Content-Digest on HEAD (a GET only where it sends none). With \
            --platform, that platform's image manifest digest, read from the index.

            Examples:
              hocker digest debian:bookworm
              hocker digest --platform linux/arm64 127.0.0.1:5000/team/app:1.2
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    func run(in context: CommandContext) async throws {
        let target = try ImageTarget(arguments: image, registry: registryOptions.registry, insecure: registryOptions.insecure)
        let platform: Platform?
        switch try registryOptions.platformRequest() {
        case .exactly(let named): platform = named
        case .host: platform = nil
        case .any: throw UsageError("hocker digest takes --platform os/arch[/variant], not any")
        }
        let digest = try await withImageSource(registryOptions, target: target, probe: .manifestDigest, context: context) { client, source in
            try await ImageDigestLookup.digest(of: source, platform: platform, client: client)
        }
        try writeOutput(Data("\(digest)\n".utf8), out: nil, context: context)
    }
}
