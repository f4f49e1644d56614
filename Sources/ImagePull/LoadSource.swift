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

/// Where an image archive for a daemon comes from. What it holds — each
/// image's ID and names — is known when the source is made, before any
/// layer is read; its bytes are opened only when the daemon lacks an image.
///
/// Made by ``ArchiveFileSource/open(path:)`` (a file) and
/// ``ArchiveStreamSource/read(from:name:spoolDirectory:)`` (standard
/// input, a FIFO). A source that writes the archive as it goes — an image
/// pulled from a registry into a pipe, a lock entry, a Nix-built stream —
/// learns its images from manifests and configs alone, and writes the
/// archive in ``withBody(_:)`` while the daemon reads it.
public protocol LoadSource: Sendable {
    /// How it is named in messages and output: a path, `standard input`, an image reference.
    var name: String { get }
    /// What it holds.
    var contents: ArchiveContents { get }
    /// Runs `body` with the archive's bytes.
    func withBody<Result: Sendable>(_ body: (ArchiveBody) async throws -> Result) async throws -> Result
    /// Called when the daemon had every image and nothing was sent: a pipe
    /// is read to its end, so that what writes it (`hocker image --out - |
    /// hocker load`) finishes as it would have, not killed by a closed pipe.
    func discardUnsent() async
    /// Releases what it holds (its descriptors); called once, after the load.
    func close()
}

extension LoadSource {
    public func discardUnsent() async {}
}

extension LoadSource {
    /// What a daemon's refusal of it can be explained by.
    var archiveDescription: ArchiveDescription {
        ArchiveDescription(name: name, isOCIArchive: contents.format == .ociArchive, hasZstdLayers: contents.hasZstdLayers)
    }
}

/// An archive file: listed by its headers (one block read per entry), its
/// configs hashed, then sent whole with its length known.
public struct ArchiveFileSource: LoadSource {
    public let name: String
    public let contents: ArchiveContents
    let descriptor: FileDescriptor
    let size: Int64

    /// Opens `path` and reads what it holds. A path that is not a regular
    /// file (a FIFO, `/dev/stdin`) is read as a stream instead, by
    /// ``ArchiveStreamSource``.
    public static func open(path: String, spoolDirectory: String) async throws -> any LoadSource {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        } catch {
            throw ArchiveReadError.reading(path, reason: "\(error)")
        }
        do {
            var status = stat()
            guard fstat(descriptor.rawValue, &status) == 0 else { throw ArchiveReadError.reading(path, reason: String(cString: strerror(errno))) }
            if status.st_mode & S_IFMT != S_IFREG {
                return try await ArchiveStreamSource.read(from: descriptor, name: path, spoolDirectory: spoolDirectory)
            }
            let (contents, size) = try await NIOThreadPool.singleton.runIfActive {
                try ArchiveContents.read(file: descriptor, name: path)
            }
            return ArchiveFileSource(name: path, contents: contents, descriptor: descriptor, size: size)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    public func withBody<Result: Sendable>(_ body: (ArchiveBody) async throws -> Result) async throws -> Result {
        try await body(ArchiveBody(segments: [.file(descriptor, offset: 0, length: size)], archive: archiveDescription))
    }

    public func close() {
        try? descriptor.close()
    }
}
