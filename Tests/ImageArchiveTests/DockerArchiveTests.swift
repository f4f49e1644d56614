import Foundation
import ImageArchive
import ImageSpec
import ImageReference
import SystemPackage
import Testing

@Suite("Docker archive layout")
struct DockerArchiveTests {
    static func blob(_ byte: UInt8, size: Int64, type: String = "application/vnd.oci.image.layer.v1.tar+gzip") -> (Descriptor, [UInt8]) {
        let bytes = [UInt8](repeating: byte, count: Int(size))
        // The digest only names files here; its value need not be the bytes' hash.
        let digest = Digest.sha256(bytes: [UInt8](repeating: byte, count: 32))
        return (Descriptor(mediaType: type, digest: digest, size: size), bytes)
    }

    func fixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Writes a layout with its blobs filled in and lists it with the system's tar.
    @Test func tarReadsWhatTheLayoutWrites() throws {
        let (config, configBytes) = Self.blob(1, size: 700, type: "application/vnd.oci.image.config.v1+json")
        let (layerA, bytesA) = Self.blob(2, size: 1024)
        let (layerB, bytesB) = Self.blob(3, size: 5, type: "application/vnd.docker.image.rootfs.diff.tar")
        let layout = try TarLayout.dockerArchive(config: config, layers: [layerA, layerB, layerA], repoTags: ["127.0.0.1:5000/x/y:v1"])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-archive-\(UUID().uuidString).tar").path
        defer { unlink(path) }
        let file = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
        try layout.writeSkeleton(to: file)
        let contents = [config.digest: configBytes, layerA.digest: bytesA, layerB.digest: bytesB]
        for (offset, blob) in layout.blobEntries {
            _ = try contents[blob.digest]!.withUnsafeBytes { try file.writeAll(toAbsoluteOffset: offset, $0) }
        }
        try file.close()

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? Int64) == layout.totalSize)
        #expect(layout.totalSize % 512 == 0)

        let listing = try run("/usr/bin/tar", ["-tvf", path])
        let names = listing.split(separator: "\n").map { String($0.split(separator: " ").last!) }
        #expect(names == ["manifest.json", "repositories", "\(config.digest.hex).json", "\(layerA.digest.hex).tar.gz", "\(layerB.digest.hex).tar"])
        let extracted = try run("/usr/bin/tar", ["-xOf", path, "\(layerA.digest.hex).tar.gz"])
        #expect(Array(extracted.utf8) == bytesA)
        let manifest = try run("/usr/bin/tar", ["-xOf", path, "manifest.json"])
        #expect(manifest + "\n" == (try fixture("manifest.json")))
        let repositories = try run("/usr/bin/tar", ["-xOf", path, "repositories"])
        #expect(repositories == #"{"127.0.0.1:5000\/x\/y":{"v1":"\#(layerA.digest.hex)"}}"#.replacingOccurrences(of: "\\/", with: "/"))
    }

    @Test func sameInputsSameSkeleton() throws {
        let (config, _) = Self.blob(1, size: 10)
        let (layer, _) = Self.blob(2, size: 20)
        let a = try TarLayout.dockerArchive(config: config, layers: [layer], repoTags: ["x:y"])
        let b = try TarLayout.dockerArchive(config: config, layers: [layer], repoTags: ["x:y"])
        #expect(a.totalSize == b.totalSize)
        #expect(a.entries.map(\.headerOffset) == b.entries.map(\.headerOffset))
        #expect(a.entries.map(\.header.bytes) == b.entries.map(\.header.bytes))
    }

    @Test(arguments: [0, 1, 511, 512, 513, 8_589_934_593] as [Int64])
    func headerSizes(_ size: Int64) throws {
        let header = try TarHeader(name: "f", size: size)
        #expect(header.bytes.count == 512)
        #expect(header.paddedSize % 512 == 0)
        #expect(header.paddedSize >= size && header.paddedSize - size < 512)
        // The checksum counts the checksum field as spaces.
        var bytes = header.bytes
        let stored = Int(String(decoding: bytes[148..<154], as: UTF8.self), radix: 8)
        for index in 148..<156 { bytes[index] = 0x20 }
        #expect(stored == bytes.reduce(0) { $0 + Int($1) })
    }

    @Test(arguments: ["", "/etc/passwd", "../x", "a/../../b", String(repeating: "n", count: 101)])
    func refusesUnsafeNames(_ name: String) {
        #expect(throws: ArchiveError.self) { try TarHeader(name: name, size: 1) }
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("OCI layout")
struct OCILayoutTests {
    @Test func indexNamesTheManifest() throws {
        let digest = Digest.sha256(bytes: [UInt8](repeating: 9, count: 32))
        let layout = OCILayout(
            top: Descriptor(mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest, size: 42), referenceName: "v1",
            imageName: "r.example/team/app:v1")
        let text = String(decoding: try layout.indexBytes(), as: UTF8.self)
        #expect(text == #"{"manifests":[{"annotations":{"io.containerd.image.name":"r.example/team/app:v1","org.opencontainers.image.ref.name":"v1"},"digest":"\#(digest)","mediaType":"application/vnd.oci.image.manifest.v1+json","size":42}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#)
        #expect(OCILayout.blobPath(digest) == "blobs/sha256/\(digest.hex)")
    }

    @Test func skeletonWritesTheFixedFilesAndNamesEachBlobOnce() throws {
        func blob(_ byte: UInt8, _ size: Int64) -> Descriptor {
            Descriptor(mediaType: "application/octet-stream", digest: Digest.sha256(bytes: [UInt8](repeating: byte, count: 32)), size: size)
        }
        let manifestBytes = Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:\#(String(repeating: "0", count: 64))","size":1},"layers":[]}"#.utf8)
        let document = try ManifestDocument(bytes: manifestBytes, contentType: nil)
        let manifest = document.descriptor
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-oci-skeleton-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (config, a, b) = (blob(2, 10), blob(3, 20), blob(4, 30))
        let files = try OCILayout(top: manifest, referenceName: "v1").writeSkeleton(at: root, documents: [document], blobs: [config, a, b, a])
        #expect(files.map(\.blob.digest) == [config.digest, a.digest, b.digest])
        #expect(files.map(\.path) == [config, a, b].map { "\(root)/\(OCILayout.blobPath($0.digest))" })
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(root)/oci-layout")) == Data(OCILayout.layoutFileBytes))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(OCILayout.blobPath(manifest.digest))")) == manifestBytes)
        #expect(FileManager.default.fileExists(atPath: "\(root)/index.json"))
        #expect(FileManager.default.fileExists(atPath: "\(root)/blobs/sha256"))
    }
}
