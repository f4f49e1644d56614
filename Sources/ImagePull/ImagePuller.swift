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
    /// An OCI image layout as one tar file (what `skopeo … oci-archive:` and
    /// `ctr image import` read): the image's digest kept.
    case ociArchive = "oci-archive"
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
    /// Told of what a person should know but that does not stop the run
    /// (an image whose config names another platform than the host's).
    public var warn: (@Sendable (String) -> Void)?
    /// Asked about the manifests of a whole-image pull once they are
    /// resolved and before any layer is fetched, as `skopeo copy` asks its
    /// signature policy: the one platform's manifest, or for a layout the
    /// index and every manifest copied. Throws to refuse; nil admits all.
    public var admit: (@Sendable ([ManifestDocument]) async throws -> Void)?
    /// Told of a choice made for the user (the only entry of an index
    /// that names no platform, taken); nil for silence.
    public var note: (@Sendable (String) -> Void)?

    public init(
        client: RegistryClient, cache: BlobCache? = nil, jobs: Int? = nil, observer: (any TransferObserver)? = nil, temporaryPaths: TemporaryPaths,
        warn: (@Sendable (String) -> Void)? = nil, note: (@Sendable (String) -> Void)? = nil
    ) {
        self.client = client
        self.cache = cache
        self.jobs = jobs
        self.observer = observer
        self.temporaryPaths = temporaryPaths
        self.warn = warn
        self.note = note
    }

    // MARK: Resolving

    /// An image resolved for a platform request, with its config when it
    /// was read to check the platform.
    public struct Resolution: Sendable {
        public var image: ResolvedImage
        /// The config's bytes, verified, when they were read.
        public var configBytes: Data?
    }

    /// Resolves `image` for the one platform `choice` names. A single image
    /// manifest says nothing of its platform, so its config is read: asked
    /// for a platform explicitly, an image built for another is refused (and
    /// one whose config does not parse, which cannot be checked); asked for
    /// none, one built for another than the host's gets a warning. With
    /// `readConfig` false the config is read only when a platform was asked.
    /// The only entry of an index that names no platform is taken as a
    /// single image is (with a note); an artifact is for no platform, and
    /// its config is not read.
    public func resolve(_ image: ImageReference, platform choice: PlatformChoice, readConfig: Bool = true) async throws -> Resolution {
        let resolved = try await client.resolveImage(image, platform: choice)
        let name = "\(client.endpoint.host)/\(image.repositoryReference)"
        if resolved.index != nil {
            guard resolved.platform == nil else { return Resolution(image: resolved, configBytes: nil) }
            note?("the index \(name) names no platform for its only manifest; taking it (\(resolved.document.digest))")
        }
        guard resolved.manifest.isImage else { return Resolution(image: resolved, configBytes: nil) }
        let wanted: Platform
        switch choice {
        case .any, .all: return Resolution(image: resolved, configBytes: nil)
        case .host:
            guard readConfig else { return Resolution(image: resolved, configBytes: nil) }
            wanted = .host
        case .platforms(let platforms): wanted = platforms[0]
        }
        let bytes = try await configBytes(resolved.manifest.config, of: image)
        let actual: Platform?
        do {
            actual = try ImageConfiguration(bytes: bytes).platform
        } catch {
            guard case .host = choice else { throw ImageSpecError.platformUnchecked(image: name, requested: wanted, reason: error.message) }
            warn?("the config of \(name) does not parse (\(error.message)), so its platform is not checked")
            return Resolution(image: resolved, configBytes: bytes)
        }
        if let actual, !wanted.matches(actual) {
            guard case .host = choice else { throw ImageSpecError.platformMismatch(image: name, requested: wanted, actual: actual) }
            warn?("\(name) is a single \(actual) image, not one for this machine (\(Platform.host)); taking it as it is")
        }
        return Resolution(image: resolved, configBytes: bytes)
    }

    /// Refuses, before any file is made, an image a docker-archive cannot
    /// hold as docker and podman load it: an artifact, or a config without
    /// `rootfs` (or whose diff IDs do not match the layers). Returns the
    /// config's bytes, read once for the check and kept for the archive.
    func checkLoadable(_ resolution: Resolution, of image: ImageReference) async throws -> Data {
        let resolved = resolution.image
        var name = "\(client.endpoint.host)/\(image.repositoryReference)"
        if let platform = resolved.platform { name += " (\(platform))" }
        if let artifact = resolved.manifest.artifact {
            throw ImageSpecError.notAnImage(image: name, artifactType: artifact, refusedBy: .dockerArchive)
        }
        var bytes = resolution.configBytes ?? Data()
        if resolution.configBytes == nil { bytes = try await configBytes(resolved.manifest.config, of: image) }
        let config: ImageConfiguration
        do {
            config = try ImageConfiguration(bytes: bytes)
        } catch {
            throw ImageSpecError.configNotLoadable(image: name, reason: "is not an image config (\(error.message))")
        }
        if let reason = config.unloadableReason(layers: resolved.manifest.layers.count) {
            throw ImageSpecError.configNotLoadable(image: name, reason: reason)
        }
        return bytes
    }

    /// A config's bytes, verified: from the cache when it has them, else
    /// from the registry (and kept in the cache).
    private func configBytes(_ config: Descriptor, of image: ImageReference) async throws -> Data {
        if let cached = cache?.verifiedBytes(config) { return cached }
        let bytes = try await client.fetchBlobBytes(config, of: image)
        cache?.store(bytes, digest: config.digest)
        return bytes
    }

    // MARK: Whole images

    /// Resolves `image` for `platform` and writes it to `path` as `format`:
    /// every blob downloaded once, verified, straight into its place.
    ///
    /// - Parameter name: the name the archive gives the image, when it is
    ///   not `image` (pulled from a mirror, under the mirror's name).
    /// - Returns: what the reference resolved to.
    @discardableResult
    public func pull(
        _ image: ImageReference, platform: PlatformChoice, format: ImageFormat, to path: String, named name: ImageReference? = nil
    ) async throws -> ResolvedImage {
        let resolution = try await resolve(image, platform: platform)
        let resolved = resolution.image
        try await admit?([resolved.document])
        var known = resolution.configBytes.map { [resolved.manifest.config.digest: $0] } ?? [:]
        let name = name ?? image
        switch format {
        case .docker:
            known[resolved.manifest.config.digest] = try await checkLoadable(resolution, of: image)
            let repoTags = name.archiveNames
            let layout = try TarLayout.dockerArchive(config: resolved.manifest.config, layers: resolved.manifest.layers, repoTags: repoTags)
            try await writeTar(layout, of: image, to: path, known: known)
        case .oci, .ociArchive:
            try await writeLayout(
                format, to: path, top: resolved.document.descriptor, documents: [resolved.document], blobs: resolved.manifest.blobs, of: image,
                named: name, known: known)
        }
        return resolved
    }

    /// Resolves `image` for every platform `choice` picks and writes an
    /// OCI layout of them to `path`: for `.all`, everything the reference
    /// names as the registry serves it — an index with its digest kept,
    /// every manifest it lists (attestations, artifacts, nested indexes)
    /// and their blobs, as `skopeo copy --all` copies it; for some
    /// platforms, an index of those; for a single image manifest, that image.
    /// `name` is the name the layout gives the image when it is not `image`.
    public func pullLayout(
        _ image: ImageReference, platforms choice: PlatformChoice, format: ImageFormat = .oci, to path: String, named name: ImageReference? = nil
    ) async throws {
        let name = name ?? image
        if choice == .all {
            let top = try await client.fetchManifest(image)
            let (documents, blobs) = try await contents(of: top, image: image)
            try await admit?(documents)
            return try await writeLayout(format, to: path, top: top.descriptor, documents: documents, blobs: blobs, of: image, named: name)
        }
        let resolved = try await client.resolveImages(image, platforms: choice)
        guard let index = resolved.index else {
            let single = resolved.images[0]
            try await admit?([single.document])
            return try await writeLayout(
                format, to: path, top: single.document.descriptor, documents: [single.document], blobs: single.manifest.blobs, of: image, named: name)
        }
        let documents = resolved.images.map(\.document)
        // The registry's index is what was signed, not the one made here for some of its platforms.
        try await admit?([index] + documents)
        let top = try OCILayout.index(of: resolved.images.map { ($0.document.descriptor, $0.platform) })
        try await writeLayout(
            format, to: path, top: top.descriptor, documents: [top] + documents, blobs: resolved.images.flatMap(\.manifest.blobs), of: image,
            named: name)
    }

    /// `top` and every manifest under it, depth first in the order listed,
    /// each once, with the blobs of every image manifest among them (an
    /// artifact's too): what an OCI layout of the whole of `top` holds.
    /// A `subject` is not followed: it is what the manifest is about, not part of it.
    func contents(of top: ManifestDocument, image: ImageReference) async throws -> (documents: [ManifestDocument], blobs: [Descriptor]) {
        var documents: [ManifestDocument] = []
        var blobs: [Descriptor] = []
        var seen: Set<Digest> = [top.digest]
        var pending = [top]
        while !pending.isEmpty {
            let document = pending.removeFirst()
            documents.append(document)
            switch document.content {
            case .image(let manifest):
                blobs += manifest.blobs
            case .index(let index):
                var children: [ManifestDocument] = []
                for entry in index.manifests where seen.insert(entry.digest).inserted {
                    var child = image
                    child.digest = entry.digest
                    children.append(try await client.fetchManifest(child))
                }
                pending.insert(contentsOf: children, at: 0)
            }
        }
        return (documents, blobs)
    }

    /// Writes an OCI layout — as a directory, or as one tar for
    /// `.ociArchive` — the documents as they are, then every blob downloaded
    /// into its place.
    private func writeLayout(
        _ format: ImageFormat, to path: String, top: Descriptor, documents: [ManifestDocument], blobs: [Descriptor], of image: ImageReference,
        named name: ImageReference, known: [Digest: Data] = [:]
    ) async throws {
        let layout = OCILayout(top: top, referenceName: name.tag, imageName: name.tag.map { "\(name.registry)/\(name.repository):\($0)" })
        if format == .ociArchive {
            return try await writeTar(try TarLayout.ociArchive(layout, documents: documents, blobs: blobs), of: image, to: path, known: known)
        }
        let unique = OCILayout.uniqueBlobs(blobs)
        try OutputSpace.check(path, needed: unique.reduce(Int64(documents.reduce(0) { $0 + $1.bytes.count })) { $0 + $1.size }, blobs: unique)
        let directory = try OutputDirectory(target: path, registry: temporaryPaths)
        let blobFiles: [(blob: Descriptor, path: String)]
        do {
            blobFiles = try layout.writeSkeleton(at: directory.temporary, documents: documents, blobs: blobs)
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
        try await download(slots, of: image, known: known)
        try directory.commit()
    }

    /// Writes a tar archive to `path`: a file is laid out first and its
    /// blobs fetched straight into their places, concurrently; standard
    /// output or a stream gets it in order, as the blobs arrive.
    private func writeTar(_ layout: TarLayout, of image: ImageReference, to path: String, known: [Digest: Data]) async throws {
        guard case .file = try OutputKind.of(path) else {
            return try await stream(layout, of: image, to: path, known: known)
        }
        try OutputSpace.check(path, needed: layout.totalSize, blobs: layout.blobEntries.map(\.blob))
        try await OutputWriting.withSeekableFile(for: path, temporaryPaths: temporaryPaths) { file, shownPath in
            do {
                try layout.writeSkeleton(to: file)
            } catch {
                throw OutputError.cannotWrite(path: shownPath, detail: "\(error)")
            }
            let slots = layout.blobEntries.map { BlobSlot(blob: $0.blob, destination: BlobDestination(file: file, offset: $0.offset, path: shownPath)) }
            try await download(slots, of: image, known: known)
        }
    }

    /// Writes the archive of `layout` in order to standard output
    /// (`-`) or a stream target, each blob's bytes as they arrive (see ``ArchiveStream``).
    private func stream(_ layout: TarLayout, of image: ImageReference, to path: String, known: [Digest: Data]) async throws {
        let shownPath = path == "-" ? "standard output" : path
        let target: OutputFile? = path == "-" ? nil : try OutputFile(target: path, registry: temporaryPaths)
        do {
            try await stream(layout, of: image, into: target?.descriptor ?? .standardOutput, shownPath: shownPath, known: known)
        } catch {
            target?.discard()
            throw error
        }
        try target?.commit()
    }

    /// Writes the archive of `layout` in order to `output` (standard
    /// output, a FIFO, a pipe to a daemon), each blob's bytes as they
    /// arrive; blobs whose verified bytes are `known` are written from memory.
    /// `readHere`: this process reads `output` (a pipe to a daemon's
    /// connection), so no download writes to it from the concurrency pool
    /// (``ArchiveStream/passThrough``).
    func stream(
        _ layout: TarLayout, of image: ImageReference, into output: FileDescriptor, shownPath: String, known: [Digest: Data], readHere: Bool = false
    ) async throws {
        let client = client
        let cache = cache
        let observer = observer
        var archive = ArchiveStream(layout: layout, ahead: jobs ?? 4)
        archive.passThrough = !readHere
        try await archive.write(
            to: output, shownPath: shownPath, temporaryPaths: temporaryPaths, observer: observer
        ) { blob, spool in
            let progress = Self.progress(of: blob, to: observer)
            if let bytes = known[blob.digest] {
                try Self.write(bytes, to: BlobDestination(file: spool.descriptor, offset: 0, path: spool.path))
                progress?(Int64(bytes.count))
                try spool.board.appended(spool.index, bytes: Int64(bytes.count))
            } else if let cache {
                // Through the cache the blob arrives whole (verified), then goes out.
                try await client.fetchBlob(
                    blob.digest, size: blob.size, urls: blob.urls ?? [], of: image,
                    into: BlobDestination(file: spool.descriptor, offset: 0, path: spool.path), cache: cache, progress: progress)
                try spool.board.appended(spool.index, bytes: blob.size)
            } else {
                var sink = spool.sink(shownPath: shownPath)
                try await client.fetchBlob(blob.digest, size: blob.size, urls: blob.urls ?? [], of: image, into: &sink, progress: progress)
            }
        }
    }

    /// Where a blob goes.
    struct BlobSlot: Sendable {
        var blob: Descriptor
        var destination: BlobDestination
    }

    /// Downloads blobs into their slots (through the cache when there is one)
    /// in the order and number at once that `DownloadSchedule` gives; blobs
    /// whose verified bytes are `known` already are written from memory.
    func download(_ slots: [BlobSlot], of image: ImageReference, known: [Digest: Data] = [:]) async throws {
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
                        if let bytes = known[slot.blob.digest] {
                            try Self.write(bytes, to: slot.destination)
                            cache?.store(bytes, digest: slot.blob.digest)
                            observer?.blobAdvanced(slot.blob, by: Int64(bytes.count))
                            observer?.blobFinished(slot.blob, from: .registry)
                            return index
                        }
                        let source = try await client.fetchBlob(
                            slot.blob.digest, size: slot.blob.size, urls: slot.blob.urls ?? [], of: image, into: slot.destination, cache: cache,
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

    private static func write(_ bytes: Data, to destination: BlobDestination) throws {
        do {
            try bytes.withUnsafeBytes { try FileChunks.write($0, to: destination.file, at: destination.offset) }
        } catch {
            throw OutputError.cannotWrite(path: destination.path, detail: "\(error)")
        }
    }

    /// The progress callback that tells `observer` of `blob`'s bytes; nil without one.
    static func progress(of blob: Descriptor, to observer: (any TransferObserver)?) -> (@Sendable (Int64) -> Void)? {
        guard let observer else { return nil }
        return { bytes in observer.blobAdvanced(blob, by: bytes) }
    }

    // MARK: One blob

    /// Fetches one blob to `path`: a file atomically; standard output (nil
    /// or `-`) after it is verified, through a temporary file, so no
    /// unverified byte is printed; a stream (a FIFO, a device) as it arrives.
    ///
    /// - Parameter size: the size the manifest gives; nil when unknown.
    public func fetchBlob(_ digest: Digest, size: Int64?, of image: ImageReference, to path: String?) async throws {
        guard let path, path != "-" else {
            try await withVerifiedBlob(digest, size: size, of: image) { file in
                do {
                    try StandardOutput.copy(from: file.descriptor)
                } catch {
                    throw OutputError.writing("standard output", error)
                }
            }
            return
        }
        let file = try OutputFile(target: path, registry: temporaryPaths)
        do {
            try await fetch(digest, size: size, of: image, into: BlobDestination(file: file.descriptor, offset: file.isSeekable ? 0 : nil, path: path))
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
    }

    /// Resolves `image` for `platform` and writes its config, as ``fetchBlob(_:size:of:to:)``.
    public func fetchConfig(of image: ImageReference, platform: PlatformChoice, to path: String?) async throws {
        let resolution = try await resolve(image, platform: platform)
        guard let bytes = resolution.configBytes else {
            let config = resolution.image.manifest.config
            return try await fetchBlob(config.digest, size: config.size, of: image, to: path)
        }
        // Read (and verified) for the platform check already; the observer
        // still hears of it, so that the summary line says what was fetched.
        let config = resolution.image.manifest.config
        observer?.transferStarting([config])
        observer?.blobStarted(config)
        try OutputWriting.write(bytes, to: path, temporaryPaths: temporaryPaths)
        Self.progress(of: config, to: observer)?(Int64(bytes.count))
        observer?.blobFinished(config, from: .registry)
        observer?.transferCompleted()
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
