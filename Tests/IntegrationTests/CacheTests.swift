import Foundation
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// `--cache`: blobs reused across images, verified, never trusted blindly.
    @Suite("Blob cache")
    struct CacheTests {
        /// Two images sharing their five bottom layers.
        static func pushPair(_ registry: TestRegistry) async throws -> (PushedImage, PushedImage) {
            let shared = (0..<5).map { TestLayerSpec(seed: "cache-shared-\($0)", approximateSize: 60_000, sharedAcrossPlatforms: true) }
            let builder = TestImageBuilder()
            let first = try await builder.build(tag: "v1", layers: shared + [TestLayerSpec(seed: "cache-first-top", approximateSize: 60_000)])
            let second = try await builder.build(tag: "v1", layers: shared + [TestLayerSpec(seed: "cache-second-top", approximateSize: 60_000)])
            defer {
                first.remove()
                second.remove()
            }
            return try await (registry.push(first, repository: "cache/first"), registry.push(second, repository: "cache/second"))
        }

        @Test("a second image sharing 5 of 6 layers downloads only the sixth")
        func sharedLayersComeFromTheCache() async throws {
            let fixture = try RegistryFixture.shared
            let (first, second) = try await Self.pushPair(fixture.open)
            let directory = try Scratch.directory("cache")
            defer { Scratch.remove(directory) }
            let cache = "\(directory)/cache"
            let pull = { (image: PushedImage, out: String) in
                try await HockerBinary.run("hocker", ["image", "--progress", "plain", "--cache", cache, "--out", out, image.reference])
            }
            let one = try await pull(first, "\(directory)/first.tar")
            #expect(one.status == 0, "\(one.stderrText)")
            #expect(!one.stderrText.contains("cached "))

            let two = try await pull(second, "\(directory)/second.tar")
            #expect(two.status == 0, "\(two.stderrText)")
            let lines = two.stderrText.split(separator: "\n")
            let cached = lines.filter { $0.hasPrefix("cached ") }
            let fetched = lines.filter { $0.hasPrefix("fetched ") }
            #expect(cached.count == 5, "\(two.stderrText)")
            // The sixth layer and the second image's own config.
            #expect(fetched.count == 2, "\(two.stderrText)")
            let topLayer = String(second.single.layerDigests[5].dropFirst("sha256:".count).prefix(12))
            #expect(fetched.contains { $0.contains(topLayer) })
            try await ArchiveChecks.layersMatchDiffIDs(
                archive: "\(directory)/second.tar", configDigest: second.single.configDigest, layerDigests: second.single.layerDigests)
            // The same pull without the cache writes the same bytes.
            let plain = try await HockerBinary.run("hocker", ["image", "-q", "--out", "\(directory)/plain.tar", second.reference])
            #expect(plain.status == 0)
            #expect(try sha256Digest(file: "\(directory)/plain.tar") == (try sha256Digest(file: "\(directory)/second.tar")))
        }

        @Test("a damaged cache entry is dropped and downloaded again")
        func damagedEntryIsNotUsed() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("cache")
            defer { Scratch.remove(directory) }
            let cache = "\(directory)/cache"
            let layer = fixture.single.single.layerDigests[0]
            let hex = String(layer.dropFirst("sha256:".count))
            let first = try await HockerBinary.run("hocker", ["layer", "--cache", cache, "--out", "\(directory)/a", "-l", layer, fixture.single.reference])
            #expect(first.status == 0, "\(first.stderrText)")
            let entry = "\(cache)/blobs/sha256/\(hex)"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: entry))
            bytes[bytes.count / 2] ^= 0xff
            try bytes.write(to: URL(fileURLWithPath: entry))
            let second = try await HockerBinary.run("hocker", ["layer", "--cache", cache, "--out", "\(directory)/b", "-l", layer, fixture.single.reference])
            #expect(second.status == 0, "\(second.stderrText)")
            #expect(try sha256Digest(file: "\(directory)/b") == layer)
            #expect(try sha256Digest(file: entry) == layer)
            #expect(Scratch.contents("\(cache)/blobs/sha256").allSatisfy { !$0.contains(".tmp-") })
        }

        @Test("a temporary file left by a run that is gone is removed")
        func abandonedTemporaryIsRemoved() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("cache")
            defer { Scratch.remove(directory) }
            let blobs = "\(directory)/cache/blobs/sha256"
            try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
            // A process id above Linux's pid_max (2^22) cannot be running.
            let abandoned = "\(blobs)/\(String(repeating: "0", count: 64)).tmp-9999999-1"
            try Data("partial".utf8).write(to: URL(fileURLWithPath: abandoned))
            let result = try await HockerBinary.run(
                "hocker", ["config", "--cache", "\(directory)/cache", "--out", "\(directory)/config.json", fixture.single.reference])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(!FileManager.default.fileExists(atPath: abandoned))
            #expect(Scratch.contents(blobs) == [String(fixture.single.single.configDigest.dropFirst("sha256:".count))])
        }
    }
}
