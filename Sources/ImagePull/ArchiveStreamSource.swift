import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageArchive
import NIOPosix
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An archive arriving on a pipe (standard input, a FIFO): read, and kept
/// in a spool file, only until its `manifest.json` and configs have gone
/// by; the rest stays in the pipe and goes to the daemon from there,
/// after the spooled part, if the daemon lacks an image. If it has them
/// all, the rest is read and thrown away (``discardUnsent()``): the
/// writer of the pipe ends as it would have, not on a closed pipe.
///
/// hocker writes `manifest.json` and the config first, so its archives are
/// known after a few kilobytes; `docker save` writes them last, so its
/// archives are spooled whole first. The spool file is unlinked as soon
/// as it is made: nothing is left behind, whatever ends the process.
public struct ArchiveStreamSource: LoadSource {
    public let name: String
    public let contents: ArchiveContents
    let input: FileDescriptor
    let spool: FileDescriptor
    /// Bytes in the spool: the archive's first bytes.
    let spooled: Int64
    /// Whether the pipe is at its end (everything is in the spool).
    let ended: Bool

    /// Reads `input` until what it holds is known.
    ///
    /// - Parameters:
    ///   - name: how the archive is named in messages (`standard input`, a path).
    ///   - spoolDirectory: where the spool file is made (and at once unlinked).
    public static func read(from input: FileDescriptor, name: String, spoolDirectory: String) async throws -> ArchiveStreamSource {
        let spool = try makeSpool(in: spoolDirectory)
        do {
            var state = SpoolState()
            while !state.ended {
                state = try await NIOThreadPool.singleton.runIfActive { [state] in
                    try state.readingChunk(from: input, into: spool, name: name)
                }
                if try ArchiveContents.isKnown(entries: state.indexer.entries, available: state.spooled, file: spool, name: name) { break }
            }
            let contents = try ArchiveContents.read(entries: state.indexer.entries, available: state.spooled, file: spool, name: name)
            return ArchiveStreamSource(name: name, contents: contents, input: input, spool: spool, spooled: state.spooled, ended: state.ended)
        } catch {
            try? spool.close()
            throw error
        }
    }

    /// A new file in `directory`, unlinked at once: only its descriptor keeps it.
    static func makeSpool(in directory: String) throws -> FileDescriptor {
        for _ in 0..<8 {
            let path = directory + "/.hocker-load-spool-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            do {
                let descriptor = try FileDescriptor.open(
                    FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite])
                unlink(path)
                return descriptor
            } catch Errno.fileExists {
                continue
            } catch {
                throw ArchiveReadError.reading(directory, reason: "cannot make a spool file there: \(error)")
            }
        }
        throw ArchiveReadError.reading(directory, reason: "cannot make a spool file there")
    }

    public func withBody<Result: Sendable>(_ body: (ArchiveBody) async throws -> Result) async throws -> Result {
        var segments: [ArchiveBody.Segment] = [.file(spool, offset: 0, length: spooled)]
        if !ended { segments.append(.stream(input)) }
        return try await body(ArchiveBody(segments: segments, archive: archiveDescription))
    }

    /// Reads the rest of the pipe and throws it away, on a thread of its
    /// own (a read blocks until the writer writes). A read that fails ends it:
    /// the load is done either way.
    public func discardUnsent() async {
        guard !ended else { return }
        let input = input
        await DedicatedThread.run {
            var buffer = [UInt8](repeating: 0, count: SpoolState.chunkSize)
            while true {
                let count = buffer.withUnsafeMutableBytes { try? input.read(into: $0, retryOnInterrupt: true) }
                guard let count, count > 0 else { break }
            }
        }
    }

    public func close() {
        try? spool.close()
        try? input.close()
    }
}

/// How far a pipe has been read into the spool.
struct SpoolState: Sendable {
    var indexer = TarIndexer()
    var spooled: Int64 = 0
    var ended = false

    static let chunkSize = 1 << 20

    /// Reads one chunk (blocking: on a thread of the pool), appends it to the spool and indexes it.
    func readingChunk(from input: FileDescriptor, into spool: FileDescriptor, name: String) throws -> SpoolState {
        var next = self
        var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
        let count: Int
        do {
            count = try buffer.withUnsafeMutableBytes { try input.read(into: $0, retryOnInterrupt: true) }
        } catch {
            throw ArchiveReadError.reading(name, reason: "\(error)")
        }
        guard count > 0 else {
            next.ended = true
            return next
        }
        try buffer.withUnsafeBytes { bytes in
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[..<count])
            do {
                _ = try spool.writeAll(toAbsoluteOffset: spooled, chunk)
            } catch {
                throw ArchiveReadError.reading(name, reason: "cannot keep its first bytes in a spool file: \(error)")
            }
            do {
                try next.indexer.feed(chunk, at: spooled)
            } catch {
                throw ArchiveReadError.notATar(name, offset: next.indexer.nextOffset)
            }
        }
        next.spooled += Int64(count)
        return next
    }
}
