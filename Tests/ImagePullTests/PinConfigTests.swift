import Foundation
import ImagePull
import ImageReference
import ImageSpec
import RegistryTestBed
import Testing

/// A pin never names a config the registry lacks, and an artifact is
/// pinned with its type; against a registry in process.
@Suite("Pins and their configs")
struct PinConfigTests {
    @Test func aPinNamesThePlatformWhoseConfigIsMissing() async throws {
        let registry = try await InProcessRegistry.start()
        try await InProcessLock.withLock { workflow in
            let image = ImageFixture.build(seed: "broken", platforms: [.linuxAMD64, .linuxARM64])
            registry.push(image, to: "team/broken", tags: ["1"])
            let arm64 = try #require(image.manifest(for: .linuxARM64))
            registry.removeBlob(arm64.config.digest)
            let outcome = try await PullSession.run(SessionOptions()) {
                try await $0.lockAdd([try InProcessLock.addition(registry, "team/broken", tag: "1")], workflow: workflow)
            }
            let error = try #require(outcome.errors["broken"] as? MissingConfig)
            #expect(error.platform == "linux/arm64/v8")
            #expect(error.config.description == arm64.config.digest)
            #expect(error.manifest?.description == arm64.manifest.digest)
            #expect(!FileManager.default.fileExists(atPath: workflow.path))
            // One HEAD per config, no GET of any.
            let configs = registry.requests.filter { $0.path.contains("/blobs/") }
            #expect(configs.count == 2 && configs.allSatisfy { $0.method == "HEAD" }, "\(configs.map { "\($0.method) \($0.path)" })")
        }
        await registry.stop()
    }

    @Test func anArtifactIsPinnedWithItsTypeAndNoPlatform() async throws {
        let registry = try await InProcessRegistry.start()
        try await InProcessLock.withLock { workflow in
            let image = ImageFixture.build(seed: "signed")
            registry.push(image, to: "team/app", tags: ["1"])
            let sbom = ImageFixture.artifact(
                subject: image.top, artifactType: "application/spdx+json", blobs: [FixtureBlob(Data("{}".utf8), mediaType: "application/spdx+json")])
            registry.push(artifact: sbom, to: "team/app")
            registry.tag("sbom", digest: sbom.manifest.digest, repository: "team/app")
            let outcome = try await PullSession.run(SessionOptions()) {
                try await $0.lockAdd([try InProcessLock.addition(registry, "team/app", tag: "sbom")], workflow: workflow)
            }
            #expect(outcome.failed.isEmpty, "\(outcome.failed)")
            let pinned = try #require(try workflow.read().entries["app"]?.pin.images.first)
            #expect(pinned.artifactType == "application/spdx+json")
            #expect(pinned.platform == nil)
        }
        await registry.stop()
    }
}
