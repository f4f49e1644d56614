import ImageLock
import ImagePull
import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The lock file workflow through a pull session (`hocker lock add`,
/// `update`, `check`) against the in-process registry.
@Suite("Pull session: lock files", .timeLimit(.minutes(1)))
struct SessionLockTests {
    /// The addition of `repository:tag` at the bed's registry, named `name`.
    static func addition(_ bed: SessionBed, _ repository: String, tag: String = "latest", name: String? = nil, platforms: PlatformChoice = .host)
        throws -> LockWorkflow.Addition
    {
        let target = try bed.target(repository, tag: tag)
        return LockWorkflow.Addition(
            endpoint: target.endpoint, image: target.reference, given: "\(bed.registry.host)/\(repository):\(tag)", name: name, platforms: platforms)
    }

    static func workflow(_ bed: SessionBed, jobs: Int = 8) -> LockWorkflow {
        LockWorkflow(path: bed.path("images.lock.json"), jobs: jobs, temporaryPaths: TemporaryPaths())
    }

    /// Adds `additions` in a session of their own; fails the test on any failed entry.
    static func add(_ additions: [LockWorkflow.Addition], bed: SessionBed, workflow: LockWorkflow) async throws {
        let outcome = try await bed.session { session in try await session.lockAdd(additions, workflow: workflow) }
        #expect(outcome.failed.isEmpty, "\(outcome.failed)")
    }

    /// Entries added, one per platform choice: each pinned to the
    /// registry's digests, the request recorded as given.
    @Test(arguments: [
        (PlatformChoice.host, ["linux/amd64"]), (.all, ["all"]), (.exactly(.arm64), ["linux/arm64/v8"]),
    ])
    func addPins(_ platforms: PlatformChoice, recorded: [String]) async throws {
        let image = ImageFixture.sessionTwoPlatforms
        try await SessionBed.run(image: image) { bed in
            let workflow = Self.workflow(bed)
            let additions = [try Self.addition(bed, "team/app", name: "app", platforms: platforms)]
            let outcome = try await bed.session { session in try await session.lockAdd(additions, workflow: workflow) }
            #expect(outcome.added.map(\.entry.name) == ["app"])
            #expect(outcome.added.map(\.replaced) == [false])
            let entry = try #require(try workflow.read().entries["app"])
            #expect(entry.request.reference == "\(bed.registry.host)/team/app:latest")
            #expect(entry.request.platforms == recorded)
            #expect(entry.pin.indexDigest?.description == image.index?.digest)
            let expected: [TestPlatform] = switch platforms {
            case .all: [.linuxAMD64, .linuxARM64]
            case .host: [.linuxAMD64]
            default: [.linuxARM64]
            }
            #expect(entry.pin.images.map(\.manifestDigest.description) == expected.compactMap { image.manifest(for: $0)?.manifest.digest })
            // No layer is ever downloaded.
            let layers = Set(image.manifests.flatMap(\.layers).map(\.digest))
            #expect(bed.registry.requests(.blobGETs).allSatisfy { request in !layers.contains { request.path.hasSuffix($0) } })
        }
    }

    /// A tag that moved: `check` reports it and writes nothing; `update`
    /// writes the new pin; a second `check` finds nothing moved, with one
    /// `HEAD` per entry and nothing else.
    @Test func tagMovedCheckedThenUpdated() async throws {
        try await SessionBed.run { bed in
            bed.registry.push(.sessionTwoPlatforms, to: "team/other", tags: ["1.0"])
            let workflow = Self.workflow(bed)
            try await Self.add([try Self.addition(bed, "team/app", name: "app"), try Self.addition(bed, "team/other", tag: "1.0")], bed: bed, workflow: workflow)
            let before = try #require(contents(workflow.path))
            let moved = ImageFixture.build(seed: "session-moved", layerSizes: [900])
            bed.registry.push(moved, to: "team/app")

            let check = try await bed.session { session in try await session.lockRefresh([], write: false, workflow: workflow) }
            #expect(check.report.changed.map(\.name) == ["app"])
            #expect(check.report.changed.first?.moved == true)
            #expect(check.report.changed.first?.old?.description == ImageFixture.sessionSmall.top.digest)
            #expect(check.report.changed.first?.new.description == moved.top.digest)
            #expect(check.report.unchanged == ["other"])
            #expect(check.report.written == false)
            #expect(contents(workflow.path) == before)

            let update = try await bed.session { session in try await session.lockRefresh([], write: true, workflow: workflow) }
            #expect(update.report.changed.map(\.name) == ["app"])
            #expect(update.report.written)
            #expect(try workflow.read().entries["app"]?.pin.digest?.description == moved.top.digest)

            bed.registry.clearRequests()
            let again = try await bed.session { session in try await session.lockRefresh([], write: false, workflow: workflow) }
            #expect(again.report.changed.isEmpty)
            #expect(again.report.unchanged.sorted() == ["app", "other"])
            #expect(bed.registry.requests(.registryRequests).filter { $0.route != .base }.map(\.method) == ["HEAD", "HEAD"])
        }
    }

    /// An entry that fails does not keep the others from being written,
    /// and is reported by name: in `add` (an image that is not there) and in
    /// `update` (a registry error for one entry while another moved).
    @Test func failingEntryLeavesTheOthersWritten() async throws {
        try await SessionBed.run { bed in
            bed.registry.push(.sessionTwoPlatforms, to: "team/other", tags: ["1.0"])
            let workflow = Self.workflow(bed)
            let additions = [
                try Self.addition(bed, "team/app", name: "app"), try Self.addition(bed, "team/missing", name: "missing"),
                try Self.addition(bed, "team/other", tag: "1.0", name: "other"),
            ]
            let added = try await bed.session { session in try await session.lockAdd(additions, workflow: workflow) }
            #expect(added.added.map(\.entry.name).sorted() == ["app", "other"])
            #expect(added.failed.map(\.name) == ["missing"])
            #expect(added.failed.first?.error.contains("team/missing") == true)
            #expect(try workflow.read().names == ["app", "other"])

            bed.registry.push(.build(seed: "session-moved-again", layerSizes: [100]), to: "team/app")
            bed.registry.add(RequestMatch { $0.route == .manifest && $0.path.contains("/team/other/") }, .respond(status: 403, body: "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"}]}"))
            let oldOther = try workflow.read().entries["other"]
            let update = try await bed.session { session in try await session.lockRefresh([], write: true, workflow: workflow) }
            #expect(update.report.changed.map(\.name) == ["app"])
            #expect(update.report.failed.map(\.name) == ["other"])
            #expect(update.errors["other"] != nil)
            #expect(update.report.written)
            let lock = try workflow.read()
            #expect(lock.entries["other"] == oldOther)
            #expect(lock.entries["app"]?.pin.digest?.description != ImageFixture.sessionSmall.top.digest)
        }
    }
}
