import DaemonClient
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
import Synchronization
import SystemPackage

/// An archive that exists only as it is sent: an image pulled from a
/// registry, a lock entry, the blobs of a `nix/` build. What it holds —
/// the image ID and names — is known from manifests, the lock or the
/// build's attributes before any layer is read; its bytes are written into
/// a pipe, by ``write``, while the daemon reads the other end. No file.
struct WrittenArchiveSource: LoadSource {
    let name: String
    let contents: ArchiveContents
    /// The archive's length in bytes: what ``write`` writes, exactly.
    let length: Int64
    /// Writes the whole archive into the pipe; any failure is its own, and
    /// the daemon's copy is then cut short, never seen as whole.
    let write: @Sendable (_ pipe: FileDescriptor) async throws -> Void

    /// A source of the docker-archive `layout` lays out, holding one image.
    init(name: String, layout: TarLayout, config: Descriptor, layers: [Descriptor], repoTags: [String], write: @escaping @Sendable (FileDescriptor) async throws -> Void) {
        self.name = name
        let image = ArchiveContents.Image(id: config.digest, repoTags: repoTags, layers: layers.map(TarLayout.dockerArchiveLayerName))
        contents = ArchiveContents(
            format: .dockerArchive, images: [image], hasZstdLayers: layers.contains { $0.mediaType.hasSuffix("zstd") })
        length = layout.totalSize
        self.write = write
    }

    /// The docker-archive of one image, laid out here once: the layout
    /// gives the length, and the writer writes it.
    static func dockerArchive(
        name: String, config: Descriptor, layers: [Descriptor], repoTags: [String],
        write: @escaping @Sendable (_ layout: TarLayout, _ pipe: FileDescriptor) async throws -> Void
    ) throws -> WrittenArchiveSource {
        let layout = try TarLayout.dockerArchive(config: config, layers: layers, repoTags: repoTags)
        return WrittenArchiveSource(name: name, layout: layout, config: config, layers: layers, repoTags: repoTags) { pipe in
            try await write(layout, pipe)
        }
    }

    init(name: String, contents: ArchiveContents, length: Int64, write: @escaping @Sendable (FileDescriptor) async throws -> Void) {
        self.name = name
        self.contents = contents
        self.length = length
        self.write = write
    }

    /// Runs the writer on one end of a pipe and `body` on the other.
    ///
    /// Whichever side fails first says why the load failed: a registry
    /// that stopped answering closes the pipe early, and the daemon's copy
    /// ends short (``ArchiveBody/Segment/pipe(_:length:)``) — the registry's
    /// error is reported, not the daemon's; a daemon that refuses the
    /// archive closes the reading end, and the writer stops on its next
    /// write — the daemon's words are reported.
    func withBody<Result: Sendable>(_ body: (ArchiveBody) async throws -> Result) async throws -> Result {
        let pipe = try ArchivePipe()
        let failures = FirstFailure()
        let write = write
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await write(pipe.writeEnd)
                } catch {
                    failures.record(error)
                    pipe.closeWriteEnd()
                    throw error
                }
                pipe.closeWriteEnd()
            }
            let result: Result
            do {
                result = try await body(ArchiveBody(segments: [.pipe(pipe.readEnd, length: length)], archive: archiveDescription))
            } catch {
                failures.record(error)
                // The writer, blocked on a full pipe or on a download, stops: its next write fails.
                pipe.closeReadEnd()
                group.cancelAll()
                // The writer's own failure, if it failed too, is recorded once it has ended.
                while await group.nextResult() != nil {}
                throw failures.first ?? error
            }
            pipe.closeReadEnd()
            try await group.waitForAll()
            return result
        }
    }

    func close() {}
}

/// The first error of two sides that fail together.
final class FirstFailure: Sendable {
    private let error = Mutex<(any Error)?>(nil)

    func record(_ failure: any Error) {
        error.withLock { if $0 == nil { $0 = failure } }
    }

    var first: (any Error)? { error.withLock { $0 } }
}

/// A pipe from an archive's writer to the daemon's connection, each end
/// closed once by its side. Made 1 MiB deep where the system allows, so
/// that the connection takes the archive in large reads.
final class ArchivePipe: Sendable {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor
    private let open = Mutex((read: true, write: true))

    /// Linux's `F_SETPIPE_SZ`.
    private static let setPipeSize: Int32 = 1031

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw OutputError.cannotWrite(path: "a pipe to the daemon", detail: String(cString: strerror(errno)))
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        #if os(Linux)
        _ = fcntl(ends[1], Self.setPipeSize, Int32(1 << 20))
        #endif
        readEnd = FileDescriptor(rawValue: ends[0])
        writeEnd = FileDescriptor(rawValue: ends[1])
    }

    func closeReadEnd() {
        guard open.withLock({ state in defer { state.read = false }; return state.read }) else { return }
        try? readEnd.close()
    }

    func closeWriteEnd() {
        guard open.withLock({ state in defer { state.write = false }; return state.write }) else { return }
        try? writeEnd.close()
    }

    deinit {
        closeReadEnd()
        closeWriteEnd()
    }
}
