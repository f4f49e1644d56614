#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import SystemPackage

/// What an image archive holds, read from its `manifest.json` and
/// entries without reading its layers: each image's ID (the digest of its
/// config, hashed from the archive, not taken from a file name) and the
/// names it gets when loaded.
public struct ArchiveContents: Sendable, Equatable {
    public enum Format: Sendable, Equatable {
        /// `docker save`'s layout: `manifest.json` lists the images.
        case dockerArchive
        /// An OCI image layout in a tar (`oci-layout`, `index.json`, no `manifest.json`).
        case ociArchive
    }

    public struct Image: Sendable, Equatable {
        /// The image ID: `sha256:` of the config's bytes, which a daemon keeps the image under.
        public var id: Digest
        /// `RepoTags`: the names a load gives it (`name:tag`).
        public var repoTags: [String]
        /// The layer entries, bottom first.
        public var layers: [String]

        public init(id: Digest, repoTags: [String], layers: [String]) {
            self.id = id
            self.repoTags = repoTags
            self.layers = layers
        }
    }

    public var format: Format
    /// The images `manifest.json` lists, in its order; empty for an oci-archive.
    public var images: [Image]
    /// Whether a layer is zstd-compressed (read from the first bytes of
    /// each layer entry); nil when some layer was not at hand to look at.
    public var hasZstdLayers: Bool?

    public init(format: Format, images: [Image], hasZstdLayers: Bool?) {
        self.format = format
        self.images = images
        self.hasZstdLayers = hasZstdLayers
    }

    /// Reads the contents from the entries of an archive.
    ///
    /// - Parameters:
    ///   - entries: the archive's entries, all of them or those read so far.
    ///   - available: where the bytes at hand end (an archive arriving on a
    ///     pipe is read up to there); entries' data past it is not read.
    ///   - file: the archive's bytes (a file, or the spool of a pipe), read at offsets.
    ///   - name: how the archive is named in errors.
    public static func read(entries: [TarEntry], available: Int64, file: FileDescriptor, name: String) throws(ArchiveReadError) -> ArchiveContents {
        var byName: [String: TarEntry] = [:]
        for entry in entries { byName[entry.name] = entry }
        guard let manifestEntry = byName["manifest.json"] else {
            if byName["oci-layout"] != nil || byName["index.json"] != nil { return ArchiveContents(format: .ociArchive, images: [], hasZstdLayers: nil) }
            throw .notAnImageArchive(name)
        }
        guard manifestEntry.dataEnd <= available, manifestEntry.size <= 16 << 20 else { throw .unreadable(name, entry: "manifest.json") }
        let manifestBytes = try readAll(manifestEntry, file: file, name: name)
        let manifest: [ManifestEntry]
        do {
            manifest = try JSONDecoder().decode([ManifestEntry].self, from: Data(manifestBytes))
        } catch {
            throw .badManifest(name, reason: "\(error)")
        }
        var images: [Image] = []
        var zstd: Bool? = false
        for item in manifest {
            let configName = TarIndexer.clean(item.Config)
            guard let config = byName[configName], config.isRegularFile, config.dataEnd <= available else {
                throw .missingEntry(name, entry: configName)
            }
            let id = try hash(config, file: file, name: name)
            let layers = (item.Layers ?? []).map(TarIndexer.clean)
            for layer in layers {
                switch try isZstd(byName[layer], available: available, file: file, name: name) {
                case true?: zstd = true
                case nil where zstd == false: zstd = nil
                default: break
                }
            }
            images.append(Image(id: id, repoTags: item.RepoTags ?? [], layers: layers))
        }
        return ArchiveContents(format: .dockerArchive, images: images, hasZstdLayers: zstd)
    }

    /// Whether an archive read so far — its entries up to `available` —
    /// tells its contents: `manifest.json` and every config it names are
    /// whole. An archive arriving on a pipe is read until this holds (or
    /// it ends), and the rest sent on to the daemon unread.
    public static func isKnown(entries: [TarEntry], available: Int64, file: FileDescriptor, name: String) throws(ArchiveReadError) -> Bool {
        guard let manifestEntry = entries.last(where: { $0.name == "manifest.json" }), manifestEntry.dataEnd <= available else { return false }
        guard manifestEntry.size <= 16 << 20 else { throw .unreadable(name, entry: "manifest.json") }
        let manifest: [ManifestEntry]
        do {
            manifest = try JSONDecoder().decode([ManifestEntry].self, from: Data(try readAll(manifestEntry, file: file, name: name)))
        } catch let error as ArchiveReadError {
            throw error
        } catch {
            throw .badManifest(name, reason: "\(error)")
        }
        let whole = Set(entries.filter { $0.dataEnd <= available }.map(\.name))
        return manifest.allSatisfy { whole.contains(TarIndexer.clean($0.Config)) }
    }

    /// One element of `manifest.json` (docker's capitalised keys).
    private struct ManifestEntry: Decodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]?
    }

    /// Whether a layer entry starts with zstd's magic number; nil when its first bytes are not at hand.
    private static func isZstd(_ entry: TarEntry?, available: Int64, file: FileDescriptor, name: String) throws(ArchiveReadError) -> Bool? {
        // Not read yet (the rest of a pipe): not known.
        guard let entry else { return nil }
        // A symlink (docker save links repeated layers) points at a layer looked at on its own.
        guard entry.isRegularFile else { return false }
        guard entry.size >= 4 else { return false }
        guard entry.dataOffset + 4 <= available else { return nil }
        var magic = [UInt8](repeating: 0, count: 4)
        do {
            let count = try magic.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: entry.dataOffset, into: $0, retryOnInterrupt: true) }
            guard count == 4 else { throw ArchiveReadError.truncated(name, entry: entry.name) }
        } catch let error as ArchiveReadError {
            throw error
        } catch {
            throw .reading(name, reason: "\(error)")
        }
        return magic == [0x28, 0xB5, 0x2F, 0xFD]
    }

    /// An entry's whole data (a small one: manifest.json).
    private static func readAll(_ entry: TarEntry, file: FileDescriptor, name: String) throws(ArchiveReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        try forEachChunk(of: entry, file: file, name: name) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The SHA-256 of an entry's data, read a chunk at a time.
    private static func hash(_ entry: TarEntry, file: FileDescriptor, name: String) throws(ArchiveReadError) -> Digest {
        var hasher = DigestHasher(.sha256)
        try forEachChunk(of: entry, file: file, name: name) { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }

    private static func forEachChunk(
        of entry: TarEntry, file: FileDescriptor, name: String, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(ArchiveReadError) {
        let chunkSize = 1 << 20
        var buffer = [UInt8](repeating: 0, count: Int(min(Int64(chunkSize), max(entry.size, 1))))
        var done: Int64 = 0
        while done < entry.size {
            let want = Int(min(Int64(buffer.count), entry.size - done))
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes {
                    try file.read(fromAbsoluteOffset: entry.dataOffset + done, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), retryOnInterrupt: true)
                }
            } catch {
                throw .reading(name, reason: "\(error)")
            }
            guard count > 0 else { throw .truncated(name, entry: entry.name) }
            buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            done += Int64(count)
        }
    }
}

/// An archive that is not an image archive hocker can read, or is damaged.
public enum ArchiveReadError: UserFacingError, Equatable {
    /// Neither `manifest.json` nor an OCI layout's `index.json`.
    case notAnImageArchive(String)
    case badManifest(String, reason: String)
    /// `manifest.json` names an entry the archive lacks.
    case missingEntry(String, entry: String)
    /// An entry too large, or not at hand, to read.
    case unreadable(String, entry: String)
    /// The archive ends inside an entry.
    case truncated(String, entry: String)
    /// A header block that is not a tar header.
    case notATar(String, offset: Int64)
    case reading(String, reason: String)

    public var exitStatus: ExitStatus { .failure }

    public var message: String {
        switch self {
        case .notAnImageArchive(let name): "\(name) is not an image archive: it has no manifest.json (docker-archive) nor index.json (oci-archive)"
        case .badManifest(let name, let reason): "the manifest.json of \(name) cannot be read: \(reason)"
        case .missingEntry(let name, let entry): "\(name) lacks \(entry), which its manifest.json names"
        case .unreadable(let name, let entry): "\(entry) in \(name) cannot be read"
        case .truncated(let name, let entry): "\(name) is cut short: it ends inside \(entry)"
        case .notATar(let name, let offset): "\(name) is not a tar archive, or is damaged at byte \(offset)"
        case .reading(let name, let reason): "cannot read \(name): \(reason)"
        }
    }

    public var hints: [String] {
        switch self {
        case .notAnImageArchive, .notATar: ["give a docker-archive, as hocker image, docker save or skopeo copy docker-archive: write"]
        case .truncated: ["the archive was not written to its end: write it again"]
        default: []
        }
    }
}

extension ArchiveContents {
    /// Reads the contents of an archive file: its entries listed by reading
    /// one header block each, skipping their data, then `manifest.json`,
    /// the configs and the first bytes of each layer — a few kilobytes of
    /// a gigabyte archive.
    ///
    /// - Returns: the contents and the archive's size in bytes.
    public static func read(file: FileDescriptor, name: String) throws(ArchiveReadError) -> (contents: ArchiveContents, size: Int64) {
        let size: Int64
        do {
            size = try file.seek(offset: 0, from: .end)
        } catch {
            throw .reading(name, reason: "\(error)")
        }
        let entries = try listEntries(file: file, size: size, name: name)
        return (try read(entries: entries, available: size, file: file, name: name), size)
    }

    /// The entries of an archive file; an entry whose data runs past the
    /// file's end means the file is cut short.
    static func listEntries(file: FileDescriptor, size: Int64, name: String) throws(ArchiveReadError) -> [TarEntry] {
        var indexer = TarIndexer()
        var buffer = [UInt8](repeating: 0, count: TarHeader.blockSize)
        while !indexer.isFinished {
            let start = indexer.nextOffset
            // No end-of-archive blocks: an archive may end right after its last entry (checked below).
            if start >= size { break }
            let want = min(indexer.neededCount, Int(size - start))
            if buffer.count < want { buffer = [UInt8](repeating: 0, count: want) }
            do {
                let count = try buffer.withUnsafeMutableBytes {
                    try file.read(fromAbsoluteOffset: start, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), retryOnInterrupt: true)
                }
                guard count > 0 else { throw ArchiveReadError.truncated(name, entry: indexer.entries.last?.name ?? "its first header") }
                try buffer.withUnsafeBytes { try indexer.feed(UnsafeRawBufferPointer(rebasing: $0[..<count]), at: start) }
            } catch let error as ArchiveReadError {
                throw error
            } catch let error as TarReadError {
                if case .badHeader(let offset) = error { throw .notATar(name, offset: offset) }
                throw .notATar(name, offset: start)
            } catch {
                throw .reading(name, reason: "\(error)")
            }
        }
        if let last = indexer.entries.last, last.isRegularFile, last.dataEnd > size { throw .truncated(name, entry: last.name) }
        if indexer.isInsideBlock { throw .truncated(name, entry: "the header after \(indexer.entries.last?.name ?? "its start")") }
        return indexer.entries
    }
}
