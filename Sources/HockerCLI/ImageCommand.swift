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

            Where it goes: --out PATH; '-' for stdout (a docker-archive or an oci-archive); by default \
            NAME-TAG.tar (NAME-TAG-OS-ARCH.tar for a --platform other than this \
            machine's) in the current directory. An existing file, or an existing OCI \
            layout directory, is replaced whole, atomically, once every byte is \
            verified; a symlink is followed and stays a link. A FIFO or a device \
            (/dev/stdout) is written through instead, so if the command fails it may \
            have received part of the archive.

            An OCI layout (--format oci, a directory; --format oci-archive, one tar that \
            keeps the image's digest, as containerd's import needs) may hold several \
            platforms: --platform repeated, or --platform all (the registry's index, its \
            digest kept). podman load names a layout directory after its path; a \
            docker-archive carries the image's name.

            Examples:
              hocker-image --out=debian.tar library/debian jessie && podman load -i debian.tar
              hocker image debian:bookworm --platform linux/arm64 --out debian-arm64.tar
              hocker image debian:bookworm --out - | podman load
              hocker image --format oci --platform all --out debian-oci debian:bookworm
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var image: ImageArguments
    @OptionGroup var trust: TrustOptions

    @Option(help: ArgumentHelp("Where to write the image ('-' for stdout; default: NAME-TAG.tar here).", valueName: "PATH"))
    var out: String?

    @Option(help: "docker (a docker-archive tar), oci (an OCI layout directory) or oci-archive (an OCI layout in one tar).")
    var format: ImageFormat = .docker

    @Option(help: ArgumentHelp(
        "Blobs downloaded at once, largest first (default: 4 of 1 MiB or more, and up to 8 with small ones beside them).",
        valueName: "N"))
    var jobs: Int?

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        if let jobs, !(1...64).contains(jobs) { throw ValidationError("--jobs takes a number from 1 to 64") }
        if !(try registryOptions.platformChoice()).picksOne, format == .docker {
            throw ValidationError("a docker-archive holds one platform; write several (or --platform all) as an OCI layout with --format oci or oci-archive")
        }
    }

    func run(in context: CommandContext) async throws {
        let target = try registryOptions.target(image)
        let platforms = try registryOptions.platformChoice()
        let path = out ?? defaultPath(target.reference, platforms: platforms)
        let (format, jobs) = (format, jobs)
        let reporter = display.reporter(quiet: registryOptions.quiet, dataTo: path, context: context)
        try await registryOptions.withSession(context: context, trust: trust, observer: reporter) { session in
            try await session.image(target, platforms: platforms, format: format, to: path, jobs: jobs)
        }
        // The path written, as hocker printed it; not when the archive itself went to stdout.
        if path != "-" { try writeOutput(Data((path + "\n").utf8), out: nil, context: context) }
    }

    /// `NAME-TAG.tar`, with the platform when it is one other than the
    /// host's, so pulls of two platforms do not replace each other.
    private func defaultPath(_ reference: ImageReference, platforms: PlatformChoice) -> String {
        let name = reference.repository.split(separator: "/").last.map(String.init) ?? "image"
        var stem = "\(name)-\(reference.tag ?? reference.digest.map { $0.short } ?? "latest")"
        if case .platforms(let named) = platforms, named.count == 1, !named[0].matches(.host) {
            stem += "-" + named[0].description.replacing("/", with: "-")
        }
        return format == .oci ? stem : "\(stem).tar"
    }
}
