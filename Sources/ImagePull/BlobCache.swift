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
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor

/// A directory of blobs stored by digest (`blobs/sha256/<hex>`), shared by
/// runs and safe for concurrent processes: entries are written under a
/// unique temporary name and renamed into place, and every reuse is
/// verified against the digest, so a damaged entry is dropped, never used.
public struct BlobCache: Sendable {
    /// The cache's root directory.
    public let directory: String
    /// Where downloads in progress are registered, so that an interrupted
    /// run removes them (a killed one leaves them to the next run).
    let temporaryPaths: TemporaryPaths?

    /// Opens (creating if needed) the cache at `directory`.
    ///
    /// - Parameter temporaryPaths: the run's temporary outputs, removed on SIGINT/SIGTERM; nil for none.
    public init(directory: String, temporaryPaths: TemporaryPaths? = nil) throws(OutputError) {
        self.directory = directory
        self.temporaryPaths = temporaryPaths
        do {
            try LocalFile.makeDirectories("\(directory)/blobs/sha256")
        } catch {
            throw .cannotWrite(path: directory, detail: "cannot create the blob cache: \(error.path): \(error.reason)")
        }
        removeAbandonedTemporaries()
    }

    /// Deletes temporary files left by runs that are gone (killed, or
    /// interrupted mid-download): their name carries the writer's process id.
    private func removeAbandonedTemporaries() {
        let blobs = "\(directory)/blobs/sha256"
        for name in LocalFile.names(in: blobs) ?? [] {
            guard let marker = name.firstRange(of: ".tmp-") else { continue }
            let pidText = name[marker.upperBound...].prefix { $0.isNumber }
            guard let pid = pid_t(pidText), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(blobs)/\(name)") }
        }
    }

    /// Where the blob with `digest` is kept.
    public func path(for digest: Digest) -> String {
        "\(directory)/blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    /// Copies the cached blob into `file` at `offset` (nil: in order, for a
    /// stream), verifying its size and digest. Returns false — and removes
    /// the entry if it is damaged — when the cache cannot supply it. Into a
    /// stream, which cannot take back what it was given, the entry is
    /// checked before any byte is copied.
    func copyVerified(_ digest: Digest, size: Int64?, into file: FileDescriptor, at offset: Int64?) -> Bool {
        let source = path(for: digest)
        guard let input = try? FileDescriptor.open(source, .readOnly, options: [.closeOnExec]) else { return false }
        defer { try? input.close() }
        func intact(_ copied: (digest: Digest, size: Int64)?) -> Bool {
            guard let copied, size.map({ $0 == copied.size }) ?? true, copied.digest == digest else {
                // A damaged entry: drop it so the next run downloads the blob again.
                unlink(source)
                return false
            }
            return true
        }
        if offset == nil {
            let checked = try? FileChunks.copyHashing(from: input, into: nil, at: nil, algorithm: digest.algorithm)
            guard let checked, intact(checked) else { return false }
            return (try? FileChunks.copy(from: input, count: checked.size, into: file, at: nil)) != nil
        }
        return intact(try? FileChunks.copyHashing(from: input, into: file, at: offset, algorithm: digest.algorithm))
    }

    /// Creates a uniquely named temporary file in the cache for a blob being downloaded.
    func makeTemporary(for digest: Digest) throws -> (path: String, file: FileDescriptor) {
        let temporary = "\(path(for: digest)).tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"
        temporaryPaths?.insert(temporary)
        do {
            let file = try FileDescriptor.open(
                temporary, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            return (temporary, file)
        } catch {
            temporaryPaths?.remove(temporary)
            throw error
        }
    }

    /// The bytes of a small cached blob, verified; nil when the cache does
    /// not have it intact.
    func verifiedBytes(_ blob: Descriptor) -> Data? {
        guard let data = FileManager.default.contents(atPath: path(for: blob.digest)) else { return nil }
        guard Int64(data.count) == blob.size, DigestHasher.digest(of: data, algorithm: blob.digest.algorithm) == blob.digest else {
            unlink(path(for: blob.digest))
            return nil
        }
        return data
    }

    /// Adds a blob whose verified bytes are in memory (a config read for
    /// its platform); a failure only means it is not cached.
    func store(_ bytes: Data, digest: Digest) {
        guard !FileManager.default.fileExists(atPath: path(for: digest)), let (temporary, file) = try? makeTemporary(for: digest) else { return }
        let written = (try? bytes.withUnsafeBytes { try file.writeAll($0) }) != nil
        try? file.close()
        if written { commit(temporary: temporary, digest: digest) } else { discard(temporary: temporary) }
    }

    /// Moves a verified temporary file into place (atomically; a concurrent
    /// writer of the same digest wrote the same bytes).
    func commit(temporary: String, digest: Digest) {
        if rename(temporary, path(for: digest)) != 0 { unlink(temporary) }
        temporaryPaths?.remove(temporary)
    }

    /// Removes a temporary file that will not be committed.
    func discard(temporary: String) {
        unlink(temporary)
        temporaryPaths?.remove(temporary)
    }
}

/// Where a fetched blob came from.
public enum BlobSource: Sendable {
    case registry
    case cache
}

extension RegistryClient {
    /// Like ``fetchBlob(_:size:of:into:progress:)``, through `cache` when
    /// given: a verified cached copy is used without any request, and a
    /// downloaded blob is added to the cache.
    @discardableResult
    public func fetchBlob(
        _ digest: Digest, size: Int64?, urls: [String] = [], of image: ImageReference, into destination: BlobDestination, cache: BlobCache?,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> BlobSource {
        guard let cache else {
            try await fetchBlob(digest, size: size, urls: urls, of: image, into: destination, progress: progress)
            return .registry
        }
        if cache.copyVerified(digest, size: size, into: destination.file, at: destination.offset) {
            progress?(size ?? 0)
            return .cache
        }
        let (temporary, cacheFile) = try cache.makeTemporary(for: digest)
        defer { try? cacheFile.close() }
        do {
            let count = try await fetchBlob(
                digest, size: size, urls: urls, of: image, into: BlobDestination(file: cacheFile, path: temporary), progress: progress)
            do {
                try FileChunks.copy(from: cacheFile, count: count, into: destination.file, at: destination.offset)
            } catch {
                throw OutputError.cannotWrite(path: destination.path, detail: "\(error)")
            }
        } catch {
            cache.discard(temporary: temporary)
            throw error
        }
        cache.commit(temporary: temporary, digest: digest)
        return .registry
    }
}
