import ArgumentParser
import Foundation
import ImagePull
import ImageReference
import RegistryClient

extension ImageFormat: ExpressibleByArgument {}

/// `hocker image` / `hocker-image`.
struct ImageCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Fetch a whole image as a docker-archive (or an OCI layout).",
        discussion: """
            The archive is what `docker load` and `podman load` read; layers stay \
            compressed and download in parallel straight into their place in the tar. \
            The path written is printed on stdout.

            Examples:
              hocker-image --out=debian.tar library/debian jessie && podman load -i debian.tar
              hocker image debian:bookworm --platform linux/arm64 --out debian-arm64.tar
              hocker image --format oci --out debian-oci debian:bookworm
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments

    @Option(help: ArgumentHelp("Where to write the archive (default: NAME-TAG.tar here).", valueName: "PATH"))
    var out: String?

    @Option(help: "docker (a docker-archive tar) or oci (an OCI layout directory).")
    var format: ImageFormat = .docker

    @Option(help: ArgumentHelp(
        "Blobs downloaded at once, largest first (default: 4 of 1 MiB or more, and up to 8 with small ones beside them).",
        valueName: "N"))
    var jobs: Int?

    @Option(help: "Progress on stderr: auto (live on a terminal), plain (a line per blob) or none.")
    var progress: ProgressMode = .auto

    func validate() throws {
        if let jobs, !(1...64).contains(jobs) { throw ValidationError("--jobs takes a number from 1 to 64") }
    }

    func run(in context: CommandContext) async throws {
        let target = try ImageTarget(arguments: image, registry: registryOptions.registry, insecure: registryOptions.insecure)
        let platform = try registryOptions.resolvedPlatform()
        let path = out ?? defaultPath(target.reference)
        try await withRegistryClient(registryOptions, endpoint: target.endpoint, context: context) { client in
            let reporter = ProgressReporter(mode: progress, quiet: registryOptions.quiet)
            try await registryOptions.puller(client, context: context, jobs: jobs, observer: reporter)
                .pull(target.reference, platform: platform, format: format, to: path)
        }
        try writeOutput(Data((path + "\n").utf8), out: nil, context: context)
    }

    private func defaultPath(_ reference: ImageReference) -> String {
        let name = reference.repository.split(separator: "/").last.map(String.init) ?? "image"
        let suffix = reference.tag ?? reference.digest.map { $0.short } ?? "latest"
        return format == .docker ? "\(name)-\(suffix).tar" : "\(name)-\(suffix)"
    }
}
