import ImagePull
import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whole images through a pull session, from the in-process registry: every
/// output format, one platform or the whole index, to a file or written
/// through to a stream, each blob checked against its digest.
@Suite("Pull session: whole images", .timeLimit(.minutes(1)))
struct SessionImageTests {
    /// One pull: the image, what is asked, how it is written.
    struct Case: Sendable, CustomStringConvertible {
        var image: ImageFixture
        var platforms: PlatformChoice
        var format: ImageFormat
        /// Through a FIFO, as `--out -` writes standard output: in order, as blobs arrive.
        var stream = false
        /// The manifests the output must hold (their configs and layers too).
        var expected: [TestPlatform]

        var description: String {
            "\(image.index == nil ? "single" : "index") \(platforms) as \(format.rawValue)\(stream ? " to a stream" : "")"
        }
    }

    static let cases: [Case] = [
        Case(image: .sessionSmall, platforms: .host, format: .docker, expected: [.linuxAMD64]),
        Case(image: .sessionSmall, platforms: .host, format: .oci, expected: [.linuxAMD64]),
        Case(image: .sessionSmall, platforms: .host, format: .ociArchive, expected: [.linuxAMD64]),
        Case(image: .sessionSmall, platforms: .host, format: .docker, stream: true, expected: [.linuxAMD64]),
        Case(image: .sessionSmall, platforms: .host, format: .ociArchive, stream: true, expected: [.linuxAMD64]),
        Case(image: .sessionTwoPlatforms, platforms: .exactly(.arm64), format: .docker, expected: [.linuxARM64]),
        Case(image: .sessionTwoPlatforms, platforms: .exactly(.arm64), format: .docker, stream: true, expected: [.linuxARM64]),
        Case(image: .sessionTwoPlatforms, platforms: .all, format: .oci, expected: [.linuxAMD64, .linuxARM64]),
        Case(image: .sessionTwoPlatforms, platforms: .all, format: .ociArchive, expected: [.linuxAMD64, .linuxARM64]),
        Case(image: .sessionTwoPlatforms, platforms: .all, format: .ociArchive, stream: true, expected: [.linuxAMD64, .linuxARM64]),
    ]

    @Test(arguments: cases)
    func imageWritten(_ test: Case) async throws {
        try await SessionBed.run(image: test.image) { bed in
            let target = try bed.target()
            let out = bed.path(test.format == .oci ? "layout" : "image.tar")
            if test.stream {
                let bytes = try await Self.throughFIFO(bed.path("fifo")) { fifo in
                    try await bed.session { session in
                        try await session.image(target, platforms: test.platforms, format: test.format, to: fifo)
                    }
                }
                try bytes.write(to: URL(fileURLWithPath: out))
            } else {
                try await bed.session { session in
                    try await session.image(target, platforms: test.platforms, format: test.format, to: out)
                }
            }
            let files = try test.format == .oci ? Self.files(inDirectory: out) : Self.entries(ofTar: out)
            let digests = Set(files.values.map(sha256Digest))
            let manifests = test.expected.compactMap { test.image.manifest(for: $0) }
            #expect(manifests.count == test.expected.count)
            for blob in manifests.flatMap({ [$0.config] + $0.layers }) {
                #expect(digests.contains(blob.digest), "\(blob.digest) (\(blob.mediaType)) is not in the output")
            }
            if test.format == .docker {
                try Self.checkDockerManifest(files, manifest: manifests[0], target: target)
            } else {
                try Self.checkOCIIndex(files, test: test, manifests: manifests, digests: digests)
            }
            // Nothing but the output is left in the directory.
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: bed.directory)).isSubset(of: ["home", "fifo", "layout", "image.tar"]))
        }
    }

    /// A docker-archive's `manifest.json`: the config and layers in order, the image named as the target names it.
    static func checkDockerManifest(_ files: [String: Data], manifest: FixtureManifest, target: ImageTarget) throws {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let entries = try JSONDecoder().decode([Entry].self, from: try #require(files["manifest.json"]))
        let entry = try #require(entries.first)
        #expect(entries.count == 1)
        #expect(files[entry.Config].map(sha256Digest) == manifest.config.digest)
        #expect(entry.Layers.map { files[$0].map(sha256Digest) } == manifest.layers.map(\.digest))
        #expect(entry.RepoTags == ["\(target.reference.registry)/\(target.reference.repository):\(target.reference.tag ?? "")"])
    }

    /// An OCI layout's `index.json`: the index itself for `all` (its digest
    /// kept), else the manifest picked; every manifest listed in the output.
    static func checkOCIIndex(_ files: [String: Data], test: Case, manifests: [FixtureManifest], digests: Set<String>) throws {
        struct Layout: Decodable {
            struct Entry: Decodable {
                var digest: String
                var mediaType: String
            }
            var manifests: [Entry]
        }
        #expect(files["oci-layout"] != nil)
        let layout = try JSONDecoder().decode(Layout.self, from: try #require(files["index.json"]))
        let top = test.platforms == .all ? try #require(test.image.index) : manifests[0].manifest
        #expect(layout.manifests.map(\.digest) == [top.digest])
        #expect(digests.contains(top.digest))
        for manifest in manifests { #expect(digests.contains(manifest.manifest.digest)) }
    }

    // MARK: Reading the output

    /// The regular files under a directory, by path relative to it.
    static func files(inDirectory root: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for relative in try FileManager.default.subpathsOfDirectory(atPath: root) {
            // A directory has no contents to read.
            if let data = contents(root + "/" + relative) { files[relative] = data }
        }
        return files
    }

    /// The regular files of a tar, by name (a ustar prefix joined to it).
    static func entries(ofTar path: String) throws -> [String: Data] {
        let tar = try #require(contents(path))
        var entries: [String: Data] = [:]
        var offset = tar.startIndex
        func text(_ range: Range<Int>) -> String {
            String(decoding: tar[(offset + range.lowerBound)..<(offset + range.upperBound)].prefix { $0 != 0 }, as: UTF8.self)
        }
        while offset + 512 <= tar.endIndex {
            if tar[offset..<offset + 512].allSatisfy({ $0 == 0 }) { break }
            let prefix = text(345..<500)
            let name = (prefix.isEmpty ? "" : prefix + "/") + text(0..<100)
            let size = try #require(Int(text(124..<136).filter { $0 != " " }, radix: 8))
            let type = tar[offset + 156]
            if type == UInt8(ascii: "0") || type == 0 { entries[name] = tar[(offset + 512)..<(offset + 512 + size)] }
            offset += 512 + (size + 511) / 512 * 512
        }
        return entries
    }

    /// What `write` writes to a FIFO at `path`, read as it arrives: the
    /// path a pull is given is written through, in order, as standard
    /// output is for `--out -`.
    static func throughFIFO(_ path: String, _ write: @escaping @Sendable (String) async throws -> Void) async throws -> Data {
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Opened first, without blocking, so that the writer's open finds a reader.
        let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard reader >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(reader) }
        let finished = Mutex(false)
        let writer = Task {
            defer { finished.withLock { $0 = true } }
            try await write(path)
        }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
                continue
            }
            if count < 0, errno != EAGAIN, errno != EINTR { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            // Nothing now: the writer has not opened it yet, is between blobs, or is done (and all is read).
            if finished.withLock({ $0 }) {
                let rest = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if rest > 0 {
                    received.append(contentsOf: buffer[0..<rest])
                    continue
                }
                break
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        try await writer.value
        return received
    }
}

extension Platform {
    /// linux/arm64/v8, as the fixtures name it.
    static let arm64 = Platform(os: "linux", architecture: "arm64", variant: "v8")
}
