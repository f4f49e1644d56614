import Foundation
import ImageArchive
import ImageReference
import ImageSpec
import SystemPackage
import Testing

/// Archives written by GNU tar in the orders and header formats docker,
/// skopeo and hocker write, read back by header (file) and by stream.
@Suite("Archive contents")
struct ArchiveContentsTests {
    static let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
    static let configID = DigestHasher.digest(of: config)
    /// A name past ustar's 100 bytes: written as a PAX record or GNU long name.
    static let longLayer = String(repeating: "d", count: 120) + "/layer.tar"

    enum Order: String, CaseIterable, Sendable {
        /// hocker's: manifest.json and the config first.
        case manifestFirst
        /// docker save's: layers, config, then manifest.json.
        case manifestLast
    }

    struct Built {
        var path: String
        var directory: String
        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Writes the archive with `tar --format FORMAT` from files laid out in a temporary directory.
    static func build(
        order: Order, format: String = "gnu", configName: String? = nil, layerBytes: [UInt8] = Array(repeating: 7, count: 3000),
        manifest: String? = nil, extra: [String: [UInt8]] = [:], omitManifest: Bool = false
    ) throws -> Built {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-contents-\(UUID().uuidString.prefix(8))").path
        let root = directory + "/root"
        let configName = configName ?? "\(configID.hex).json"
        try FileManager.default.createDirectory(atPath: root + "/" + String(repeating: "d", count: 120), withIntermediateDirectories: true)
        try Data(config).write(to: URL(fileURLWithPath: root + "/" + configName))
        try Data(layerBytes).write(to: URL(fileURLWithPath: root + "/" + longLayer))
        let manifestText = manifest ?? #"[{"Config":"\#(configName)","RepoTags":["127.0.0.1:5000/test/app:v1"],"Layers":["\#(longLayer)"]}]"#
        try Data(manifestText.utf8).write(to: URL(fileURLWithPath: root + "/manifest.json"))
        for (name, bytes) in extra { try Data(bytes).write(to: URL(fileURLWithPath: root + "/" + name)) }
        var names = order == .manifestFirst ? ["manifest.json", configName, longLayer] : [longLayer, configName, "manifest.json"]
        if omitManifest { names.removeAll { $0 == "manifest.json" } }
        names += extra.keys.sorted()
        let path = directory + "/archive.tar"
        try run("/usr/bin/tar", ["--format", format, "-C", root, "-cf", path] + names)
        return Built(path: path, directory: directory)
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(executable) \(arguments)")
    }

    static func readFile(_ path: String) throws -> ArchiveContents {
        let file = try FileDescriptor.open(path, .readOnly)
        defer { try? file.close() }
        return try ArchiveContents.read(file: file, name: path).contents
    }

    @Test(arguments: Order.allCases, ["gnu", "pax", "posix"])
    func readsTheImageFromItsHeaders(order: Order, format: String) throws {
        let built = try Self.build(order: order, format: format)
        defer { built.remove() }
        let contents = try Self.readFile(built.path)
        #expect(contents.format == .dockerArchive)
        #expect(contents.images == [ArchiveContents.Image(id: Self.configID, repoTags: ["127.0.0.1:5000/test/app:v1"], layers: [Self.longLayer])])
        #expect(contents.hasZstdLayers == false)
    }

    /// The indexer lists the same entries however the stream is cut.
    @Test(arguments: [1, 7, 511, 512, 513, 4096, 1 << 20])
    func streamedInChunksListsTheSameEntries(chunk: Int) throws {
        let built = try Self.build(order: .manifestLast, format: "pax")
        defer { built.remove() }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: built.path)))
        var whole = TarIndexer()
        try bytes.withUnsafeBytes { try whole.feed($0, at: 0) }
        #expect(whole.isFinished)
        #expect(whole.entries.map(\.name) == [Self.longLayer, "\(Self.configID.hex).json", "manifest.json"])
        var chunked = TarIndexer()
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            try bytes[offset..<end].withUnsafeBytes { try chunked.feed($0, at: Int64(offset)) }
            offset = end
        }
        #expect(chunked.entries == whole.entries)
        #expect(chunked.isFinished)
    }

    /// hocker's order is known after the config; docker's only once manifest.json has gone by.
    @Test(arguments: Order.allCases)
    func knownAfterTheConfig(order: Order) throws {
        let built = try Self.build(order: order, layerBytes: Array(repeating: 1, count: 200_000))
        defer { built.remove() }
        let file = try FileDescriptor.open(built.path, .readOnly)
        defer { try? file.close() }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: built.path)))
        var indexer = TarIndexer()
        var knownAt: Int?
        for offset in stride(from: 0, to: bytes.count, by: 512) {
            try bytes[offset..<(offset + 512)].withUnsafeBytes { try indexer.feed($0, at: Int64(offset)) }
            if try ArchiveContents.isKnown(entries: indexer.entries, available: Int64(offset + 512), file: file, name: "x") {
                knownAt = offset + 512
                break
            }
        }
        let at = try #require(knownAt)
        switch order {
        case .manifestFirst: #expect(at < 4096)
        case .manifestLast: #expect(at > 200_000)
        }
        let contents = try ArchiveContents.read(entries: indexer.entries, available: Int64(at), file: file, name: "x")
        #expect(contents.images.first?.id == Self.configID)
        // The layer was not at hand (manifest first): whether it is zstd is not known.
        #expect(contents.hasZstdLayers == (order == .manifestFirst ? nil : false))
    }

    @Test func theIDIsTheConfigsHashNotItsName() throws {
        let built = try Self.build(order: .manifestFirst, configName: String(repeating: "0", count: 64) + ".json")
        defer { built.remove() }
        #expect(try Self.readFile(built.path).images.first?.id == Self.configID)
    }

    @Test func zstdLayersAreSeen() throws {
        let built = try Self.build(order: .manifestFirst, layerBytes: [0x28, 0xB5, 0x2F, 0xFD] + Array(repeating: 0, count: 100))
        defer { built.remove() }
        #expect(try Self.readFile(built.path).hasZstdLayers == true)
    }

    @Test func anOCIArchiveIsToldApart() throws {
        let built = try Self.build(
            order: .manifestFirst, extra: ["oci-layout": Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), "index.json": Array("{}".utf8)],
            omitManifest: true)
        defer { built.remove() }
        let contents = try Self.readFile(built.path)
        #expect(contents.format == .ociArchive)
        #expect(contents.images.isEmpty)
    }

    @Test func aTruncatedArchiveIsRefused() throws {
        let built = try Self.build(order: .manifestFirst, layerBytes: Array(repeating: 3, count: 100_000))
        defer { built.remove() }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: built.path))
        try handle.truncate(atOffset: 50_000)
        try handle.close()
        #expect(throws: ArchiveReadError.truncated(built.path, entry: Self.longLayer)) { try Self.readFile(built.path) }
    }

    @Test func aFileThatIsNoTarIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-notar-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: URL(fileURLWithPath: path))
        #expect(throws: ArchiveReadError.notATar(path, offset: 0)) { try Self.readFile(path) }
    }

    @Test func aMissingConfigIsNamed() throws {
        let built = try Self.build(order: .manifestFirst, manifest: #"[{"Config":"absent.json","RepoTags":[],"Layers":[]}]"#)
        defer { built.remove() }
        #expect(throws: ArchiveReadError.missingEntry(built.path, entry: "absent.json")) { try Self.readFile(built.path) }
    }

    @Test func anArchiveWithoutAManifestIsNoImageArchive() throws {
        let built = try Self.build(order: .manifestFirst, omitManifest: true)
        defer { built.remove() }
        #expect(throws: ArchiveReadError.notAnImageArchive(built.path)) { try Self.readFile(built.path) }
    }

    /// What hocker itself writes reads back with the IDs and names it was given.
    @Test func readsWhatTheLayoutWrites() throws {
        let layer = Descriptor(mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: Digest.sha256(bytes: [1]), size: 10)
        let config = Descriptor(mediaType: "application/vnd.oci.image.config.v1+json", digest: Self.configID, size: Int64(Self.config.count))
        let layout = try TarLayout.dockerArchive(config: config, layers: [layer], repoTags: ["127.0.0.1:5000/x/y:v1"])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-layout-\(UUID().uuidString.prefix(8)).tar").path
        defer { unlink(path) }
        let file = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer { try? file.close() }
        try layout.writeSkeleton(to: file)
        for (offset, blob) in layout.blobEntries where blob.digest == Self.configID {
            _ = try Self.config.withUnsafeBytes { try file.writeAll(toAbsoluteOffset: offset, $0) }
        }
        let contents = try ArchiveContents.read(file: file, name: path).contents
        #expect(contents.images == [ArchiveContents.Image(id: Self.configID, repoTags: ["127.0.0.1:5000/x/y:v1"], layers: ["\(layer.digest.hex).tar.gz"])])
    }
}
