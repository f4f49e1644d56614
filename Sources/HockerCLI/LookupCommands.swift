import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
        let pageSize = pageSize
        let tags = try await registryOptions.withSession(context: context) { session in
            try await session.tags(target, pageSize: pageSize)
        }
        if json {
            struct Document: Encodable {
                var name: String
                var tags: [String]
            }
            try writeOutput(try JSONDocument.bytes(of: Document(name: target.reference.repository, tags: tags)), out: nil, context: context)
        } else {
            try printLines(tags.map(TerminalText.tag), context: context)
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
        if raw, !(try registryOptions.platformChoice()).picksOne { throw ValidationError("--raw prints one manifest: give at most one --platform") }
    }

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let choice = try registryOptions.platformChoice()
        if raw {
            // The index itself, unless one platform is named.
            let bytes = try await registryOptions.withSession(context: context) { session in
                try await session.manifest(target, platform: choice, index: !choice.isExplicit)
            }
            try writeOutput(bytes, out: nil, context: context)
            return
        }
        let inspection = try await registryOptions.withSession(context: context) { session in
            try await session.inspect(target, platforms: choice == .host ? .all : choice)
        }
        if json {
            try writeOutput(try inspection.jsonBytes(), out: nil, context: context)
        } else {
            try writeOutput(Data(Self.text(inspection).utf8), out: nil, context: context)
        }
    }

    /// The inspection as a person reads it.
    static func text(_ inspection: ImageInspection) -> String {
        let field = TerminalText.field
        var lines = [field(inspection.reference), "digest      \(inspection.digest)", "media type  \(field(inspection.mediaType))"]
        if let artifactType = inspection.artifactType { lines.append("artifact    \(field(artifactType))") }
        if inspection.images.isEmpty { lines.append("(an empty index: it lists no manifest)") }
        for image in inspection.images {
            lines.append("")
            lines.append(image.platform.map(field) ?? "(no platform)")
            lines.append("  manifest  \(image.manifestDigest) (\(image.manifestSize) bytes, \(field(image.manifestMediaType)))")
            if let artifactType = image.artifactType {
                // An artifact's layers are not a filesystem, and its config is not an image's.
                lines.append("  artifact  \(field(artifactType))")
                lines.append("  size      \(ProgressReporter.formatBytes(image.size)) in \(image.layers) blob\(image.layers == 1 ? "" : "s") and the config")
                continue
            }
            lines.append("  size      \(ProgressReporter.formatBytes(image.size)) in \(image.layers) layer\(image.layers == 1 ? "" : "s") and the config")
            lines.append("  created   \(image.created.map(field) ?? "(not said)")")
            for (key, value) in image.labels.sorted(by: { $0.key < $1.key }) { lines.append("  label     \(field(key))=\(field(value))") }
        }
        if let referrers = inspection.referrers {
            let total = referrers.values.reduce(0, +)
            let kinds = referrers.sorted { $0.key < $1.key }.map { "\($0.value) \(field($0.key))" }
            lines.insert("referrers   \(total == 0 ? "none" : "\(total): " + kinds.joined(separator: ", "))", at: 3)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `hocker referrers`.
struct ReferrersCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "referrers",
        abstract: "List the manifests that refer to an image: its signatures, SBOMs and attestations (OCI 1.1 referrers).",
        discussion: """
            Asks the registry's referrers API for the digest the reference names (with --platform, \
            that platform's image manifest); a registry without the API (distribution 2.8) is read \
            through the sha256-<hex> tag that lists them instead. One line per referrer: its \
            digest, artifact type, media type and size; --json prints {"subject", "reference", \
            "source": "api"|"tagSchema", "referrers": [descriptors]}.

            Examples:
              hocker referrers ghcr.io/org/app:v1
              hocker referrers --artifact-type application/vnd.dev.cosign.artifact.sig.v1+json 127.0.0.1:5000/team/app:1.2
              hocker referrers --json --platform linux/arm64 127.0.0.1:5000/team/app:1.2
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    @Option(name: .customLong("artifact-type"), help: ArgumentHelp("Only referrers of this artifact type.", valueName: "MEDIA-TYPE"))
    var artifactType: String?

    @Flag(help: "Print a JSON document instead of one line per referrer.")
    var json = false

    func validate() throws {
        if let artifactType, artifactType.isEmpty || artifactType.contains(where: { $0.isWhitespace }) {
            throw ValidationError("--artifact-type takes a media type (type/subtype), without spaces")
        }
    }

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let platform: Platform?
        switch try registryOptions.singlePlatform(command: "hocker referrers") {
        case .platforms(let named): platform = named[0]
        case .host: platform = nil
        case .any, .all: throw UsageError("hocker referrers takes --platform os/arch[/variant], not any")
        }
        let artifactType = artifactType
        let list = try await registryOptions.withSession(context: context) { session in
            try await session.referrers(target, platform: platform, artifactType: artifactType)
        }
        let reference = "\(target.endpoint.name)/\(target.reference.repositoryReference)"
        if json {
            struct Document: Encodable {
                var subject: Digest
                var reference: String
                var source: ReferrerList.Source
                var referrers: [Descriptor]
            }
            let document = Document(subject: list.subject, reference: reference, source: list.source, referrers: list.referrers)
            try writeOutput(try JSONDocument.bytes(of: document), out: nil, context: context)
            return
        }
        if list.referrers.isEmpty, !registryOptions.quiet {
            context.console.note("hocker: no referrers of \(TerminalText.field(reference))@\(list.subject)\(artifactType.map { " of type \(TerminalText.field($0))" } ?? "")")
        }
        let field = TerminalText.field
        try printLines(list.referrers.map { referrer in
            "\(referrer.digest)  \(field(referrer.artifactType ?? "-"))  \(field(referrer.mediaType))  \(referrer.size)"
        }, context: context)
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
        let target = try registryOptions.target(image)
        let platform: Platform?
        switch try registryOptions.singlePlatform(command: "hocker digest") {
        case .platforms(let named): platform = named[0]
        case .host: platform = nil
        case .any, .all: throw UsageError("hocker digest takes --platform os/arch[/variant], not any")
        }
        let digest = try await registryOptions.withSession(context: context) { session in
            try await session.digest(target, platform: platform)
        }
        try writeOutput(Data("\(digest)\n".utf8), out: nil, context: context)
    }
}
