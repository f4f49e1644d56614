import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageArchive
import ImageReference
import NIOPosix
import SystemPackage

/// An image whose blobs are local files — what a `nix/` build streams —
/// loaded as its archive is assembled: its ID (the config digest) and
/// names come from what the build recorded, so a daemon that has it is
/// asked and nothing more; when it lacks it, the archive goes through a
/// pipe straight from the files (``ArchiveAssembly``), each blob Nix
/// already checked copied in the kernel, never written to a file.
enum AssembledArchiveSource {
    /// Lays the archive out: the files' sizes read, and the digest of any
    /// blob whose digest the build did not record.
    static func open(_ image: LocalImage, name: String) async throws -> any LoadSource {
        let plan = try await NIOThreadPool.singleton.runIfActive { try ArchiveAssembly.plan(image) }
        let write: @Sendable (FileDescriptor) async throws -> Void = { pipe in
            // Writes into the pipe block until the daemon reads: a thread of their own.
            try await DedicatedThread.run { try ArchiveAssembly.stream(plan, to: pipe, shownPath: "the archive of \(name)") }
        }
        guard image.format == .docker else {
            // An oci-archive does not say what a daemon would call it: it is always sent.
            let contents = ArchiveContents(format: .ociArchive, images: [], hasZstdLayers: plan.layers.contains { $0.mediaType.hasSuffix("zstd") })
            return WrittenArchiveSource(name: name, contents: contents, length: plan.layout.totalSize, write: write)
        }
        return WrittenArchiveSource(name: name, layout: plan.layout, config: plan.config, layers: plan.layers, repoTags: image.repoTags, write: write)
    }
}
