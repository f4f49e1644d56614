import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImagePull
import ImageSpec
import ImageReference
import RegistryClient

/// `hocker manifest` / `hocker-manifest`.
struct ManifestCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Print an image manifest, byte for byte as the registry serves it.",
        discussion: """
            A multi-platform index is resolved to the image manifest for --platform \
            (ready for docker2nix); --index prints the index itself. The output's SHA-256 \
            is the manifest digest.

            Examples:
              hocker-manifest library/debian jessie
              hocker manifest debian:bookworm --platform linux/arm64
              hocker manifest --registry http://127.0.0.1:5000/v2/ team/app v1 --out=app.json
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    @Option(help: ArgumentHelp(OutputHelp.text("manifest"), valueName: "PATH"))
    var out: String?

    @Flag(help: "Print the index (manifest list) itself instead of resolving it for a platform.")
    var index = false

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let platform = try registryOptions.singlePlatform(command: "hocker manifest")
        let index = index
        let bytes = try await registryOptions.withSession(context: context) { session in
            try await session.manifest(target, platform: platform, index: index)
        }
        try writeOutput(bytes, out: out, context: context)
    }
}

/// `hocker config` / `hocker-config`.
struct ConfigCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print an image's configuration JSON, verified against its digest.",
        discussion: """
            Examples:
              hocker-config library/debian jessie
              hocker-config --out="$out" --registry "$registry" library/debian jessie
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    @Option(help: ArgumentHelp(OutputHelp.text("config"), valueName: "PATH"))
    var out: String?

    @OptionGroup var display: ProgressOptions

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let platform = try registryOptions.singlePlatform(command: "hocker config")
        let out = out
        let reporter = display.reporter(quiet: registryOptions.quiet, dataTo: out, context: context)
        try await registryOptions.withSession(context: context, observer: reporter) { session in
            try await session.config(target, platform: platform, to: out)
        }
    }
}

/// `hocker layer` / `hocker-layer`.
struct LayerCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer",
        abstract: "Fetch one blob (a layer) by digest, verified against it.",
        discussion: """
            The tag is not resolved: nixpkgs passes "unused". Without --out the blob \
            goes to stdout once verified; not to a terminal, unless --out - asks for it.

            Examples:
              hocker-layer --out=layer.tar.gz --layer cd0a524342ef...49c library/debian unused
              hocker layer -l sha256:cd0a5243...849c debian
            """)

    @OptionGroup var registryOptions: RegistryOptions

    @Option(name: [.short, .long], help: ArgumentHelp("The blob's digest, with or without sha256:.", valueName: "DIGEST"))
    var layer: String

    @OptionGroup var image: ImageArguments

    @Option(help: ArgumentHelp(OutputHelp.text("blob"), valueName: "PATH"))
    var out: String?

    @OptionGroup var display: ProgressOptions

    func run(in context: CommandContext) async throws {
        let digest = try Digest(parsing: layer, allowBareHex: true)
        // The tag is never used, so it is not checked (nixpkgs passes "unused").
        var arguments = image
        arguments.imageTag = nil
        let target = try registryOptions.target(arguments)
        // A blob is bytes a terminal cannot show (and may be misled by): asked for, as curl asks.
        if out == nil, context.standardOutputIsTerminal {
            throw UsageError(
                "standard output is a terminal: hocker layer does not write a blob's bytes to it unasked",
                hints: ["write it to a file with --out PATH, or into a pipe (hocker layer ... | tar tz)", "--out - writes it to the terminal anyway"])
        }
        let out = out
        let reporter = display.reporter(quiet: registryOptions.quiet, dataTo: out, context: context)
        try await registryOptions.withSession(context: context, observer: reporter) { session in
            try await session.blob(digest, of: target, to: out)
        }
    }
}

