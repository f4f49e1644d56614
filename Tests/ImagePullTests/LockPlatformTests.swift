import Foundation
import ImageLock
import ImagePull
import ImageReference
import ImageSpec
import RegistryTestBed
import Testing

/// An update that would drop a platform a lock entry pins fails, keeping
/// the entry, unless the user allows it; against a registry in process.
@Suite("Lock entries and their platforms")
struct LockPlatformTests {
    @Test func anUpdateThatWouldDropAPlatformFailsUnlessAllowed() async throws {
        let registry = try await InProcessRegistry.start()
        try await InProcessLock.withLock { workflow in
            registry.push(ImageFixture.build(seed: "two", platforms: [.linuxAMD64, .linuxARM64]), to: "team/base", tags: ["4"])
            let addition = try InProcessLock.addition(registry, "team/base", tag: "4")
            let added = try await PullSession.run(SessionOptions()) { try await $0.lockAdd([addition], workflow: workflow) }
            #expect(added.failed.isEmpty)
            let before = try Data(contentsOf: URL(fileURLWithPath: workflow.path))
            // The tag moves to an index of amd64 alone.
            registry.push(ImageFixture.build(seed: "one", platforms: [.linuxAMD64], forceIndex: true), to: "team/base", tags: ["4"])
            for write in [false, true] {
                let outcome = try await PullSession.run(SessionOptions()) { try await $0.lockRefresh([], write: write, workflow: workflow) }
                #expect(outcome.report.changed.isEmpty)
                let error = try #require(outcome.errors["base"] as? PlatformsLost)
                #expect(error.lost == ["linux/arm64/v8"])
                #expect(error.kept == ["linux/amd64"])
                #expect(error.hints == ["to pin what the tag names now, without linux/arm64/v8: hocker lock update --allow-fewer-platforms --lock-file \(workflow.path) base"])
                #expect(try Data(contentsOf: URL(fileURLWithPath: workflow.path)) == before, "the entry keeps its old resolution")
            }
            let allowed = try await PullSession.run(SessionOptions()) {
                try await $0.lockRefresh([], write: true, allowFewerPlatforms: true, workflow: workflow)
            }
            #expect(allowed.errors.isEmpty)
            #expect(allowed.report.changed.first?.line.hasSuffix("linux/amd64 -linux/arm64/v8") == true, "\(allowed.report.changed.map(\.line))")
            #expect(try workflow.read().entries["base"]?.pin.images.map(\.platform) == ["linux/amd64"])
        }
        await registry.stop()
    }
}
