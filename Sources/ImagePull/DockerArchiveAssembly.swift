import Foundation
import ImageArchive
import ImageReference
import ImageSpec
import SystemPackage

/// A blob in a local file (a Nix store path) that goes into an archive.
public struct LocalBlob: Sendable, Hashable {
    /// The file.
    public var path: String
    /// The digest the file must have; nil to take the one its bytes give.
    public var digest: Digest?
    /// The media type; nil for the docker config type (a config) or the
    /// type the file's first bytes show (a layer).
    public var mediaType: String?
    /// Whether `digest` is already known to be the file's: a Nix store path
    /// whose fixed-output hash is that digest, which Nix checked when it
    /// built it. Such a file is copied in without being read by hocker
    /// (only its size is checked); any other is hashed while it is copied.
    public var verified: Bool

    public init(path: String, digest: Digest? = nil, mediaType: String? = nil, verified: Bool = false) {
        self.path = path
        self.digest = digest
        self.mediaType = mediaType
        self.verified = verified && digest != nil
    }
}

/// A local file that cannot go into an archive.
public enum AssemblyError: UserFacingError, Equatable {
    /// The file cannot be read.
    case unreadable(path: String, detail: String)
    /// The file's bytes are not the blob the caller named.
    case digestMismatch(path: String, actual: Digest, expected: Digest)

    public var message: String {
        switch self {
        case .unreadable(let path, let detail): "cannot read \(path): \(detail)"
        case .digestMismatch(let path, let actual, let expected): "cannot use \(path): its digest is \(actual), the expression says \(expected)"
        }
    }
}

/// Writes a docker-archive from files already on disk: what `nix/`'s
/// assembling derivation does with the blob store paths. Deterministic: the
/// same inputs give the same bytes.
public enum DockerArchiveAssembly {
    /// Writes the archive of `config` and `layers` (bottom first), tagged
    /// `repoTags`, to `path` (atomically). A file given with a digest is
    /// checked while it is copied in, so it is read once; a file that claims
    /// a digest another file already supplies is still checked on its own.
    public static func write(config: LocalBlob, layers: [LocalBlob], repoTags: [String], to path: String, temporaryPaths: TemporaryPaths) throws {
        // Every path given for a digest: the first is copied in, any other only checked.
        var files: [Digest: [String]] = [:]
        var verified: Set<String> = []
        func descriptor(_ blob: LocalBlob, isConfig: Bool) throws -> Descriptor {
            let (digest, size, magic) = try inspect(blob.path, digest: blob.digest)
            if !(files[digest] ?? []).contains(blob.path) { files[digest, default: []].append(blob.path) }
            if blob.verified { verified.insert(blob.path) }
            let mediaType = blob.mediaType ?? (isConfig ? MediaType.dockerConfig : MediaType.layer(sniffing: magic))
            return Descriptor(mediaType: mediaType, digest: digest, size: size)
        }
        let configDescriptor = try descriptor(config, isConfig: true)
        let layerDescriptors = try layers.map { try descriptor($0, isConfig: false) }
        let layout = try TarLayout.dockerArchive(config: configDescriptor, layers: layerDescriptors, repoTags: repoTags)
        let file = try OutputFile(target: path, registry: temporaryPaths)
        do {
            do {
                try layout.writeSkeleton(to: file.descriptor)
            } catch {
                throw OutputError.cannotWrite(path: path, detail: "\(error)")
            }
            for entry in layout.blobEntries {
                guard let sources = files[entry.blob.digest], let first = sources.first else { continue }
                try copy(first, blob: entry.blob, into: file.descriptor, at: entry.offset, archive: path, verified: verified.contains(first))
                for other in sources.dropFirst() where !verified.contains(other) {
                    let (digest, _, _) = try inspect(other)
                    guard digest == entry.blob.digest else { throw AssemblyError.digestMismatch(path: other, actual: digest, expected: entry.blob.digest) }
                }
            }
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
    }

    /// The digest, size and first bytes of a file. With `digest` given, the
    /// file is not read through: it is checked later, while it is copied.
    static func inspect(_ path: String, digest given: Digest? = nil) throws(AssemblyError) -> (Digest, Int64, [UInt8]) {
        do {
            let file = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
            defer { try? file.close() }
            if let given {
                var magic = [UInt8](repeating: 0, count: 4)
                let read = try magic.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: 0, into: $0) }
                return (given, try file.seek(offset: 0, from: .end), Array(magic.prefix(read)))
            }
            var hasher = DigestHasher(.sha256)
            var magic: [UInt8] = []
            let size = try FileChunks.forEach(in: file) { piece, _ in
                if magic.count < 4 { magic += piece.prefix(4 - magic.count) }
                hasher.update(bufferPointer: piece)
            }
            return (hasher.finalize(), size, magic)
        } catch {
            throw .unreadable(path: path, detail: "\(error)")
        }
    }

    /// Copies blob `blob` from the file at `path` into `target` at `offset`,
    /// checking on the way that the file is that blob.
    static func copy(_ path: String, blob: Descriptor, into target: FileDescriptor, at offset: Int64, archive: String, verified: Bool) throws {
        let source: FileDescriptor
        do {
            source = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        } catch {
            throw AssemblyError.unreadable(path: path, detail: "\(error)")
        }
        defer { try? source.close() }
        if verified {
            // Checked by Nix already: copied in the kernel, never read here.
            do {
                try FileChunks.copyInKernel(from: source, count: blob.size, into: target, at: offset)
            } catch .write(let errno) {
                throw OutputError.cannotWrite(path: archive, detail: "\(errno)")
            } catch {
                throw AssemblyError.unreadable(path: path, detail: "\(error)")
            }
            return
        }
        let copied: (digest: Digest, size: Int64)
        do {
            copied = try FileChunks.copyHashing(from: source, count: blob.size, into: target, at: offset, algorithm: blob.digest.algorithm)
        } catch .write(let errno) {
            throw OutputError.cannotWrite(path: archive, detail: "\(errno)")
        } catch {
            throw AssemblyError.unreadable(path: path, detail: "\(error)")
        }
        guard copied.digest == blob.digest else { throw AssemblyError.digestMismatch(path: path, actual: copied.digest, expected: blob.digest) }
    }
}
