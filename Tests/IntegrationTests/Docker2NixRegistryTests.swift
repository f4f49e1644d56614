import Foundation
import ImageSpec
import RegistryTestBed
import Testing

// docker2nix against the Nix tests' registries, its output read as it
// is, without Nix. These tests belong to the NixBuildTests suite (its
// traits are on its declaration in NixBuildTests.swift): they share its
// registries and run serialized with its builds.

extension NixBuildTests {
    // MARK: docker2nix against the registry, without Nix

    /// An index piped in is refused with its platforms and how to pick one.
    @Test func pipedIndexFails() async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", fixture.arguments(fixture.multi), stdin: fixture.multi.manifestBytes)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let stderr = result.stderrText
        #expect(stderr.hasPrefix("hocker: error: the manifest on stdin is an index"), "\(stderr)")
        #expect(stderr.contains("its platforms: linux/amd64, linux/arm64/v8"), "\(stderr)")
        #expect(stderr.contains("hint: pick one platform's manifest: hocker-manifest --platform linux/amd64"), "\(stderr)")
        #expect(stderr.contains("docker2nix --format hocker --platform all"), "\(stderr)")
    }

    /// What the fetched pin records: digests, sizes and media types as served.
    @Test func jsonDescribesTheIndex() async throws {
        let fixture = try NixFixture.shared
        let text = try await NixBed.docker2nix(["--json", "--platform", "linux/arm64", "--platform", "linux/amd64"] + fixture.arguments(fixture.multi))
        let pin = try JSONDecoder().decode(ImagePin.self, from: Data(text.utf8))
        #expect(pin.repository == "nix/multi")
        #expect(pin.registry == fixture.open.v2URL)
        #expect(pin.indexDigest?.description == fixture.multi.digest)
        #expect(pin.images.map(\.platform) == ["linux/arm64/v8", "linux/amd64"])
        for image in pin.images {
            let served = try #require(fixture.multi.manifests.first { $0.digest == image.manifestDigest.description })
            #expect(image.config.digest.description == served.configDigest)
            #expect(Int(image.config.size) == served.configSize)
            #expect(image.layers.map(\.digest.description) == served.layerDigests)
            #expect(image.layers.map(\.mediaType) == served.layerMediaTypes)
            #expect(Int(image.manifestSize) == served.size)
        }
        // A plain manifest gets its platform from the image config.
        let single = try JSONDecoder().decode(ImagePin.self, from: Data(try await NixBed.docker2nix(["--json"] + fixture.arguments(fixture.one)).utf8))
        #expect(single.images.map(\.platform) == ["linux/amd64"])
        #expect(single.indexDigest == nil)
        #expect(single.images.first?.manifestMediaType == "application/vnd.docker.distribution.manifest.v2+json")
    }

    /// A manifest given on stdin records the platform named, as parsed; `all` names none.
    @Test(arguments: [
        (["--platform", "Linux/ARM64"], "linux/arm64" as String?),
        (["--platform", "all"], nil),
        ([], nil),
    ])
    func givenManifestRecordsTheNamedPlatform(_ flags: [String], _ recorded: String?) async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run(
            "docker2nix", ["--json"] + flags + fixture.arguments(fixture.one), stdin: fixture.one.manifestBytes)
        #expect(result.status == 0, "\(result.stderrText)")
        let pin = try JSONDecoder().decode(ImagePin.self, from: result.stdout)
        #expect(pin.images.map(\.platform) == [recorded])
    }

    @Test(arguments: [
        (["--platform", "all"], "the fetchdocker format pins one platform"),
        (["--platform", "linux/amd64", "--platform", "linux/arm64"], "the fetchdocker format pins one platform"),
        (["--format", "hocker", "--platform", "all", "--platform", "linux/amd64"], "--platform all takes no other --platform"),
        (["--json", "--format", "hocker"], "--json and --format hocker exclude each other"),
    ])
    func usageErrors(_ flags: [String], _ message: String) async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", flags + fixture.arguments(fixture.one))
        #expect(result.status == 2)
        #expect(result.stderrText.contains(message), "\(result.stderrText)")
    }

    @Test func missingPlatformListsTheOthers() async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", ["--format", "hocker", "--platform", "linux/s390x"] + fixture.arguments(fixture.multi))
        #expect(result.status == 1)
        #expect(result.stderrText.contains("linux/amd64") && result.stderrText.contains("linux/arm64"), "\(result.stderrText)")
    }
}
