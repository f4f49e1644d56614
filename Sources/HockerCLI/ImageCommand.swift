import ArgumentParser
import Foundation
import ImageArchive
import ImageReference
import RegistryClient
import SystemPackage

/// The formats `hocker image` writes.
enum ImageFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// The `docker save` tar that `docker load` and `podman load` read.
    case docker
    /// An OCI image layout directory.
    case oci
}

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
        let reference = target.reference
        let path = out ?? defaultPath(reference)
        try await withRegistryClient(registryOptions, endpoint: target.endpoint, context: context) { client in
            let resolved = try await client.resolveImage(repository: reference.repository, reference: reference.reference, platform: platform)
            let config = ArchiveBlob(descriptor: resolved.image.config)
            let layers = resolved.image.layers.map(ArchiveBlob.init(descriptor:))
            switch format {
            case .docker:
                let repoTags = reference.tag.map { ["\(reference.familiarName):\($0)"] } ?? []
                let layout = try DockerArchiveLayout(config: config, layers: layers, repoTags: repoTags)
                let file = try OutputFile(target: path, registry: context.temporaryPaths)
                do {
                    try layout.writeSkeleton(to: file.descriptor)
                    let slots = layout.blobEntries.map { BlobSlot(blob: $0.blob, file: file.descriptor, offset: $0.offset) }
                    try await fetch(slots, client: client, repository: reference.repository, context: context)
                } catch {
                    file.discard()
                    throw error
                }
                try file.commit()
            case .oci:
                let directory = try OutputDirectory(target: path, registry: context.temporaryPaths)
                let manifestBlob = ArchiveBlob(digest: resolved.manifest.digest, size: Int64(resolved.manifest.bytes.count), mediaType: resolved.manifest.mediaType)
                let blobFiles = try OCILayout(manifest: manifestBlob, referenceName: reference.tag)
                    .writeSkeleton(at: directory.temporary, manifestBytes: resolved.manifest.bytes, blobs: [config] + layers)
                var files: [FileDescriptor] = []
                defer { for file in files { try? file.close() } }
                var slots: [BlobSlot] = []
                for (blob, path) in blobFiles {
                    let file = try FileDescriptor.open(
                        path, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
                    files.append(file)
                    slots.append(BlobSlot(blob: blob, file: file, offset: 0))
                }
                try await fetch(slots, client: client, repository: reference.repository, context: context)
                try directory.commit()
            }
        }
        try StandardOutput.write(Array((path + "\n").utf8))
    }

    /// Where a blob goes: a file and an offset in it.
    struct BlobSlot: Sendable {
        var blob: ArchiveBlob
        var file: FileDescriptor
        var offset: Int64
    }

    /// Downloads blobs into their slots (through the cache when there is one)
    /// in the order and number at once that `DownloadSchedule` gives.
    private func fetch(_ slots: [BlobSlot], client: RegistryClient, repository: String, context: CommandContext) async throws {
        let cache = try registryOptions.blobCache(environment: context.environment)
        let reporter = ProgressReporter(
            mode: progress, quiet: registryOptions.quiet, totalBytes: slots.reduce(0) { $0 + $1.blob.size }, blobCount: slots.count)
        let sizes = slots.map(\.blob.size)
        // Measured on 2 cores: 4 large blobs at once move as much as 6 or 8;
        // 40 small layers finish ~10% sooner with 8 requests in flight than with 4.
        var schedule = jobs.map { DownloadSchedule(sizes: sizes, largeAtOnce: $0, atOnce: $0) }
            ?? DownloadSchedule(sizes: sizes, largeAtOnce: 4, atOnce: 8)
        try await withThrowingTaskGroup(of: Int.self) { group in
            func startAvailable() {
                while let index = schedule.next() {
                    let slot = slots[index]
                    group.addTask {
                        let name = slot.blob.digest.short
                        reporter.start(name, size: slot.blob.size)
                        let source = try await client.fetchBlob(
                            repository: repository, digest: slot.blob.digest, size: slot.blob.size, into: slot.file, at: slot.offset,
                            cache: cache, progress: { reporter.advance(name, by: $0) })
                        reporter.finish(name, size: slot.blob.size, fromCache: source == .cache)
                        return index
                    }
                }
            }
            startAvailable()
            while let finished = try await group.next() {
                schedule.finished(finished)
                startAvailable()
            }
        }
        reporter.complete()
    }

    private func defaultPath(_ reference: ImageReference) -> String {
        let name = reference.repository.split(separator: "/").last.map(String.init) ?? "image"
        let suffix = reference.tag ?? reference.digest.map { $0.short } ?? "latest"
        return format == .docker ? "\(name)-\(suffix).tar" : "\(name)-\(suffix)"
    }
}

extension ArchiveBlob {
    init(descriptor: Descriptor) {
        self.init(digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType)
    }
}
