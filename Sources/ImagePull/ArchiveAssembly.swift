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
import SystemPackage
import RegistryClient

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

/// What a local archive holds: its format, the image's files and names.
public struct LocalImage: Sendable {
    /// The archive to make: `.docker` or `.ociArchive` (an OCI layout directory is not made from local files).
    public var format: ImageFormat
    public var config: LocalBlob
    /// Bottom first.
    public var layers: [LocalBlob]
    /// The image manifest's file: needed for an oci-archive, which keeps its exact bytes.
    public var manifest: LocalBlob?
    /// The names a docker-archive gives the image (`name:tag`), may be empty.
    public var repoTags: [String]
    /// The tag an oci-archive records (`org.opencontainers.image.ref.name`), and the full name for containerd.
    public var referenceName: String?
    public var imageName: String?

    public init(
        format: ImageFormat = .docker, config: LocalBlob, layers: [LocalBlob], manifest: LocalBlob? = nil, repoTags: [String] = [],
        referenceName: String? = nil, imageName: String? = nil
    ) {
        self.format = format
        self.config = config
        self.layers = layers
        self.manifest = manifest
        self.repoTags = repoTags
        self.referenceName = referenceName
        self.imageName = imageName
    }
}

/// Writes a docker-archive or an oci-archive from files already on disk:
/// what `nix/`'s assembling derivations do with the blob store paths, and
/// what a streamed image's executable does. Deterministic: the same inputs
/// give the same bytes, to a file or to a stream.
public enum ArchiveAssembly {
    /// The archive laid out, and where each blob's bytes come from.
    struct Plan: Sendable {
        var layout: TarLayout
        var config: Descriptor
        /// Bottom first.
        var layers: [Descriptor]
        /// Every path given for a digest: the first is copied in, any other only checked.
        var files: [Digest: [String]]
        /// Paths Nix has checked: copied, not hashed.
        var verified: Set<String>
    }

    static func plan(_ image: LocalImage) throws -> Plan {
        var files: [Digest: [String]] = [:]
        var verified: Set<String> = []
        func descriptor(_ blob: LocalBlob, isConfig: Bool) throws -> Descriptor {
            let (digest, size, magic) = try inspect(blob.path, digest: blob.digest)
            if !(files[digest] ?? []).contains(blob.path) { files[digest, default: []].append(blob.path) }
            if blob.verified { verified.insert(blob.path) }
            let mediaType = blob.mediaType ?? (isConfig ? MediaType.dockerConfig : MediaType.layer(sniffing: magic))
            return Descriptor(mediaType: mediaType, digest: digest, size: size)
        }
        let config = try descriptor(image.config, isConfig: true)
        let layers = try image.layers.map { try descriptor($0, isConfig: false) }
        switch image.format {
        case .ociArchive:
            guard let manifestBlob = image.manifest else {
                throw AssemblyError.unreadable(path: "(no manifest)", detail: "an oci-archive keeps the image manifest's bytes: give its file")
            }
            let bytes: Data
            do {
                bytes = try LocalFile.read(manifestBlob.path)
            } catch {
                throw AssemblyError.unreadable(path: manifestBlob.path, detail: error.reason)
            }
            let document = try ManifestDocument(bytes: bytes, contentType: manifestBlob.mediaType)
            if let expected = manifestBlob.digest, document.digest != expected {
                throw AssemblyError.digestMismatch(path: manifestBlob.path, actual: document.digest, expected: expected)
            }
            let layout = OCILayout(top: document.descriptor, referenceName: image.referenceName, imageName: image.imageName)
            return Plan(
                layout: try TarLayout.ociArchive(layout, documents: [document], blobs: [config] + layers), config: config, layers: layers, files: files,
                verified: verified)
        case .docker, .oci:
            return Plan(
                layout: try TarLayout.dockerArchive(config: config, layers: layers, repoTags: image.repoTags), config: config, layers: layers,
                files: files, verified: verified)
        }
    }

    /// Writes the archive to `path` (atomically). A file given with a digest
    /// is checked while it is copied in, so it is read once; a file that
    /// claims a digest another file already supplies is still checked on its own.
    public static func write(_ image: LocalImage, to path: String, temporaryPaths: TemporaryPaths) throws {
        let plan = try plan(image)
        let file = try OutputFile(target: path, registry: temporaryPaths)
        do {
            do {
                try plan.layout.writeSkeleton(to: file.descriptor)
            } catch {
                throw OutputError.cannotWrite(path: path, detail: "\(error)")
            }
            for entry in plan.layout.blobEntries {
                try copyBlob(entry.blob, plan: plan, into: file.descriptor, at: entry.offset, archive: path)
            }
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
    }

    /// Writes the archive in order to `output` (standard output: `| podman
    /// load`), the same bytes ``write(_:to:temporaryPaths:)`` writes to a file.
    public static func stream(_ image: LocalImage, to output: FileDescriptor, shownPath: String) throws {
        try stream(try plan(image), to: output, shownPath: shownPath)
    }

    /// Writes the archive `plan` lays out, in order, to `output`.
    static func stream(_ plan: Plan, to output: FileDescriptor, shownPath: String) throws {
        try plan.layout.writeInOrder { bytes in
            do { try FileChunks.write(bytes, to: output, at: nil) } catch { throw OutputError.writing(shownPath, error) }
        } blob: { _, blob in
            try copyBlob(blob, plan: plan, into: output, at: nil, archive: shownPath)
        }
    }

    private static func copyBlob(_ blob: Descriptor, plan: Plan, into target: FileDescriptor, at offset: Int64?, archive: String) throws {
        guard let sources = plan.files[blob.digest], let first = sources.first else { return }
        try copy(first, blob: blob, into: target, at: offset, archive: archive, verified: plan.verified.contains(first))
        for other in sources.dropFirst() where !plan.verified.contains(other) {
            let (digest, _, _) = try inspect(other)
            guard digest == blob.digest else { throw AssemblyError.digestMismatch(path: other, actual: digest, expected: blob.digest) }
        }
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

    /// Copies blob `blob` from the file at `path` into `target` at `offset`
    /// (nil: in order, for a stream), checking on the way that the file is
    /// that blob, unless Nix checked it already (`verified`).
    static func copy(_ path: String, blob: Descriptor, into target: FileDescriptor, at offset: Int64?, archive: String, verified: Bool) throws {
        let source: FileDescriptor
        do {
            source = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        } catch {
            throw AssemblyError.unreadable(path: path, detail: "\(error)")
        }
        defer { try? source.close() }
        if verified {
            // Checked by Nix already: copied (or sent, to a stream) in the kernel where it can, never hashed here.
            do {
                if let offset {
                    try FileChunks.copyInKernel(from: source, count: blob.size, into: target, at: offset)
                } else {
                    try FileChunks.send(from: source, range: 0..<blob.size, to: target)
                }
            } catch .write(let errno) {
                throw OutputError.writing(archive, FileCopyError.write(errno))
            } catch {
                throw AssemblyError.unreadable(path: path, detail: "\(error)")
            }
            return
        }
        let copied: (digest: Digest, size: Int64)
        do {
            copied = try FileChunks.copyHashing(from: source, count: blob.size, into: target, at: offset, algorithm: blob.digest.algorithm)
        } catch .write(let errno) {
            throw OutputError.writing(archive, FileCopyError.write(errno))
        } catch {
            throw AssemblyError.unreadable(path: path, detail: "\(error)")
        }
        guard copied.digest == blob.digest else { throw AssemblyError.digestMismatch(path: path, actual: copied.digest, expected: blob.digest) }
    }
}
