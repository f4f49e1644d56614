import Foundation
import ImageArchive
import ImageReference
import ImageSpec
import RegistryClient
import SystemPackage

/// What `ImagePuller.pull` writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// The `docker save` tar that `docker load` and `podman load` read.
    case docker
    /// An OCI image layout directory.
    case oci
}

/// Told of a pull's progress, blob by blob; called from concurrent downloads.
public protocol TransferObserver: Sendable {
    /// A transfer of these blobs begins.
    func transferStarting(_ blobs: [Descriptor])
    /// `blob` starts downloading (or being copied from the cache).
    func blobStarted(_ blob: Descriptor)
    /// `bytes` more of `blob` arrived (negative when its transfer restarts).
    func blobAdvanced(_ blob: Descriptor, by bytes: Int64)
    /// `blob` is complete and verified.
    func blobFinished(_ blob: Descriptor, from source: BlobSource)
    /// Every blob is done.
    func transferCompleted()
}

/// Fetches images, configs and blobs from one registry into files: the use
/// cases behind `hocker image`, `hocker config` and `hocker layer`. Outputs
/// are written beside their target and renamed into place once verified.
public struct ImagePuller: Sendable {
    public let client: RegistryClient
    /// Blobs kept by digest across runs; nil for none.
    public var cache: BlobCache?
    /// Blobs at once for every size; nil for the default schedule (4 of
    /// 1 MiB or more, up to 8 with small ones beside them).
    public var jobs: Int?
    /// Told of the progress of every download; nil for none.
    public var observer: (any TransferObserver)?
    /// Where temporary outputs are registered, so a signal can remove them.
    public let temporaryPaths: TemporaryPaths

    public init(client: RegistryClient, cache: BlobCache? = nil, jobs: Int? = nil, observer: (any TransferObserver)? = nil, temporaryPaths: TemporaryPaths) {
        self.client = client
        self.cache = cache
        self.jobs = jobs
        self.observer = observer
        self.temporaryPaths = temporaryPaths
    }

    // MARK: Whole images

    /// Resolves `image` for `platform` and writes it to `path` as `format`:
    /// every blob downloaded once, verified, straight into its place.
    ///
    /// - Returns: what the reference resolved to.
    @discardableResult
    public func pull(_ image: ImageReference, platform: Platform, format: ImageFormat, to path: String) async throws -> ResolvedImage {
        let resolved = try await client.resolveImage(image, platform: platform)
        switch format {
        case .docker:
            let repoTags = image.tag.map { ["\(image.familiarName):\($0)"] } ?? []
            let layout = try DockerArchiveLayout(config: resolved.manifest.config, layers: resolved.manifest.layers, repoTags: repoTags)
            let file = try OutputFile(target: path, registry: temporaryPaths)
            do {
                do {
                    try layout.writeSkeleton(to: file.descriptor)
                } catch {
                    throw OutputError.cannotWrite(path: path, detail: "\(error)")
                }
                let slots = layout.blobEntries.map { BlobSlot(blob: $0.blob, destination: BlobDestination(file: file.descriptor, offset: $0.offset, path: path)) }
                try await download(slots, of: image)
            } catch {
                file.discard()
                throw error
            }
            try file.commit()
        case .oci:
            let directory = try OutputDirectory(target: path, registry: temporaryPaths)
            let blobFiles: [(blob: Descriptor, path: String)]
            do {
                blobFiles = try OCILayout(manifest: resolved.document.descriptor, referenceName: image.tag)
                    .writeSkeleton(at: directory.temporary, manifestBytes: resolved.document.bytes, blobs: resolved.manifest.blobs)
            } catch {
                throw OutputError.cannotWrite(path: path, detail: "\(error)")
            }
            var files: [FileDescriptor] = []
            defer { for file in files { try? file.close() } }
            var slots: [BlobSlot] = []
            for (blob, blobPath) in blobFiles {
                let file: FileDescriptor
                do {
                    file = try FileDescriptor.open(
                        blobPath, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
                } catch {
                    throw OutputError.cannotWrite(path: path, detail: "\(error)")
                }
                files.append(file)
                slots.append(BlobSlot(blob: blob, destination: BlobDestination(file: file, path: path)))
            }
            try await download(slots, of: image)
            try directory.commit()
        }
        return resolved
    }

    /// Where a blob goes.
    struct BlobSlot: Sendable {
        var blob: Descriptor
        var destination: BlobDestination
    }

    /// Downloads blobs into their slots (through the cache when there is one)
    /// in the order and number at once that `DownloadSchedule` gives.
    func download(_ slots: [BlobSlot], of image: ImageReference) async throws {
        let sizes = slots.map(\.blob.size)
        // Measured on 2 cores: 4 large blobs at once move as much as 6 or 8;
        // 40 small layers finish ~10% sooner with 8 requests in flight than with 4.
        var schedule = jobs.map { DownloadSchedule(sizes: sizes, largeAtOnce: $0, atOnce: $0) }
            ?? DownloadSchedule(sizes: sizes, largeAtOnce: 4, atOnce: 8)
        let client = client
        let cache = cache
        let observer = observer
        observer?.transferStarting(slots.map(\.blob))
        try await withThrowingTaskGroup(of: Int.self) { group in
            func startAvailable() {
                while let index = schedule.next() {
                    let slot = slots[index]
                    group.addTask {
                        observer?.blobStarted(slot.blob)
                        let source = try await client.fetchBlob(
                            slot.blob.digest, size: slot.blob.size, of: image, into: slot.destination, cache: cache,
                            progress: Self.progress(of: slot.blob, to: observer))
                        observer?.blobFinished(slot.blob, from: source)
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
        observer?.transferCompleted()
    }

    /// The progress callback that tells `observer` of `blob`'s bytes; nil without one.
    static func progress(of blob: Descriptor, to observer: (any TransferObserver)?) -> (@Sendable (Int64) -> Void)? {
        guard let observer else { return nil }
        return { bytes in observer.blobAdvanced(blob, by: bytes) }
    }

    // MARK: One blob

    /// Fetches one blob to `path` (atomically), or to standard output when
    /// `path` is nil — after it is verified, through a temporary file, so no
    /// unverified byte is printed.
    ///
    /// - Parameter size: the size the manifest gives; nil when unknown.
    public func fetchBlob(_ digest: Digest, size: Int64?, of image: ImageReference, to path: String?) async throws {
        guard let path else {
            try await withVerifiedBlob(digest, size: size, of: image) { file in
                do {
                    try StandardOutput.copy(from: file.descriptor)
                } catch {
                    throw OutputError.cannotWrite(path: "standard output", detail: "\(error)")
                }
            }
            return
        }
        let file = try OutputFile(target: path, registry: temporaryPaths)
        do {
            try await fetch(digest, size: size, of: image, into: BlobDestination(file: file.descriptor, path: path))
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
    }

    /// Resolves `image` for `platform` and fetches its config, as ``fetchBlob(_:size:of:to:)``.
    public func fetchConfig(of image: ImageReference, platform: Platform, to path: String?) async throws {
        let config = try await client.resolveImage(image, platform: platform).manifest.config
        try await fetchBlob(config.digest, size: config.size, of: image, to: path)
    }

    /// Fetches one blob into a temporary file in TMPDIR and hands it to
    /// `body` once verified. The file is removed afterwards, and on SIGINT/SIGTERM.
    private func withVerifiedBlob<Result>(
        _ digest: Digest, size: Int64?, of image: ImageReference, _ body: (OutputFile) throws -> Result
    ) async throws -> Result {
        let file = try OutputFile(target: FileManager.default.temporaryDirectory.path + "/hocker-blob-\(digest.short)", registry: temporaryPaths)
        defer { file.discard() }
        try await fetch(digest, size: size, of: image, into: BlobDestination(file: file.descriptor, path: file.temporary))
        return try body(file)
    }

    private func fetch(_ digest: Digest, size: Int64?, of image: ImageReference, into destination: BlobDestination) async throws {
        let observer = observer
        let blob = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size ?? 0)
        observer?.transferStarting([blob])
        observer?.blobStarted(blob)
        let source = try await client.fetchBlob(
            digest, size: size, of: image, into: destination, cache: cache, progress: Self.progress(of: blob, to: observer))
        observer?.blobFinished(blob, from: source)
        observer?.transferCompleted()
    }
}
