import Foundation
import ImageLock
import ImageReference
import ImageSpec
import Testing

/// What an entry says of itself without a registry: the edits a bot's bump
/// leaves behind, and what moved between two resolutions.
@Suite("Lock entries")
struct LockEntryTests {
    struct Edit: Sendable, CustomTestStringConvertible {
        var label: String
        var entry: @Sendable () -> LockEntry
        var edit: @Sendable (inout LockEntry) -> Void
        var problems: [EntryProblem]
        var testDescription: String { label }
    }

    static let edits: [Edit] = [
        Edit(label: "as written", entry: Sample.multi, edit: { _ in }, problems: []),
        Edit(label: "single, as written", entry: Sample.single, edit: { _ in }, problems: []),
        Edit(label: "the digest bumped", entry: Sample.multi, edit: { $0.pin.digest = Sample.digest("7") },
             problems: [.digestEdited(recorded: Sample.digest("7"), resolved: Sample.digest("a"))]),
        Edit(label: "a single image's digest bumped", entry: Sample.single, edit: { $0.pin.digest = Sample.digest("7") },
             problems: [.digestEdited(recorded: Sample.digest("7"), resolved: Sample.digest("1"))]),
        Edit(label: "the tag bumped", entry: Sample.multi, edit: { $0.pin.tag = "1.3" }, problems: [.tagEdited(requested: "1.2", recorded: "1.3")]),
        Edit(label: "tag and digest bumped, as Renovate does", entry: Sample.multi, edit: { entry in
            entry.pin.tag = "1.3"
            entry.pin.digest = Sample.digest("7")
        }, problems: [.digestEdited(recorded: Sample.digest("7"), resolved: Sample.digest("a")), .tagEdited(requested: "1.2", recorded: "1.3")]),
        Edit(label: "no tag in the reference means latest", entry: Sample.single, edit: { entry in
            entry.request.reference = "debian"
            entry.pin.tag = "latest"
        }, problems: []),
        Edit(label: "pinned by digest: the tag is not followed", entry: Sample.single, edit: { entry in
            entry.request.reference = "debian@" + Sample.digest("1").description
            entry.pin.tag = nil
        }, problems: []),
        Edit(label: "a platform asked for and not pinned", entry: Sample.single, edit: { $0.request.platforms = ["linux/amd64", "linux/arm64"] },
             problems: [.platformMissing("linux/arm64")]),
        Edit(label: "arm64 matches arm64/v8", entry: Sample.multi, edit: { $0.request.platforms = ["linux/arm64", "linux/amd64"] }, problems: []),
        Edit(label: "no images", entry: Sample.single, edit: { $0.pin.images = [] }, problems: [.incomplete("it lists 0 images and no index")]),
    ]

    @Test(arguments: edits)
    func problems(_ edit: Edit) {
        var entry = edit.entry()
        edit.edit(&entry)
        #expect(entry.problems == edit.problems)
    }

    @Test(arguments: [
        ("127.0.0.1:5000/team/app:1.2", "1.3", "127.0.0.1:5000/team/app:1.3"),
        ("debian", "trixie", "debian:trixie"),
        ("localhost:5000/x", "v2", "localhost:5000/x:v2"),
        ("team/app:v1", "v1", "team/app:v1"),
        ("x@sha256:" + String(repeating: "1", count: 64), "v2", "x@sha256:" + String(repeating: "1", count: 64)),
    ])
    func theReferenceFollowsAnEditedTag(_ reference: String, _ tag: String, _ followed: String) {
        let request = LockRequest(reference: reference, platforms: [])
        #expect(request.following(tag: tag).reference == followed)
        #expect(request.following(tag: tag).referenceTag == (reference.contains("@") ? nil : tag))
    }

    @Test(arguments: [
        (["all"], PlatformChoice.all),
        ([], .host),
        (["linux/arm64/v8", "linux/amd64"], .platforms([Platform(os: "linux", architecture: "arm64", variant: "v8"), Platform(os: "linux", architecture: "amd64")])),
    ])
    func platformsAsked(_ platforms: [String], _ choice: PlatformChoice) throws {
        #expect(try LockRequest(reference: "x", platforms: platforms).platformChoice() == choice)
    }

    @Test func sizeCountsEveryDistinctBlobOnce() {
        // Two configs of 1000, the shared base layer once, two layers of their own: 5 blobs.
        #expect(Sample.multi().totalSize == 2 * 1000 + 3 * 20_000)
    }

    @Test func imageNames() {
        #expect(Sample.multi().imageName == "127.0.0.1:5000/team/app:1.2")
        #expect(Sample.single().imageName == "docker.io/library/debian:bookworm")
    }

    // MARK: What moved

    struct Move: Sendable, CustomTestStringConvertible {
        var label: String
        var new: @Sendable (inout LockEntry) -> Void
        var platforms: [EntryChange.PlatformChange]
        var line: String
        var testDescription: String { label }
    }

    static let moves: [Move] = [
        Move(label: "one platform rebuilt", new: { entry in
            entry.pin.indexDigest = Sample.digest("5")
            entry.pin.digest = Sample.digest("5")
            entry.pin.images[1].manifestDigest = Sample.digest("6")
        }, platforms: [.init(platform: "linux/arm64/v8", old: Sample.digest("f"), new: Sample.digest("6"))],
             line: "app: 127.0.0.1:5000/team/app:1.2 sha256:aaaaaaaaaaaa… → sha256:555555555555…, linux/arm64/v8"),
        Move(label: "a platform added, one gone", new: { entry in
            entry.pin.indexDigest = Sample.digest("5")
            entry.pin.digest = Sample.digest("5")
            entry.pin.images[0].platform = "linux/riscv64"
            entry.pin.images[0].manifestDigest = Sample.digest("4")
        }, platforms: [.init(platform: "linux/riscv64", old: nil, new: Sample.digest("4")),
                       .init(platform: "linux/amd64", old: Sample.digest("b"), new: nil)],
             line: "app: 127.0.0.1:5000/team/app:1.2 sha256:aaaaaaaaaaaa… → sha256:555555555555…, +linux/riscv64 -linux/amd64"),
        Move(label: "the index re-pushed, no image changed", new: { entry in
            entry.pin.indexDigest = Sample.digest("5")
            entry.pin.digest = Sample.digest("5")
        }, platforms: [], line: "app: 127.0.0.1:5000/team/app:1.2 sha256:aaaaaaaaaaaa… → sha256:555555555555…, no image changed"),
    ]

    @Test(arguments: moves)
    func whatMoved(_ move: Move) {
        let old = Sample.multi()
        var new = old
        move.new(&new)
        let change = EntryChange(from: old, to: new)
        #expect(change.moved)
        #expect(change.edits.isEmpty)
        #expect(change.old == Sample.digest("a"))
        #expect(change.new == Sample.digest("5"))
        #expect(change.platforms == move.platforms)
        #expect(change.line == move.line)
    }

    /// After a bot's bump the old digest is the one the images belonged to,
    /// not the one the bot wrote, and the line says what was edited.
    @Test func aBumpNotYetResolved() {
        var bumped = Sample.multi()
        bumped.pin.tag = "1.3"
        bumped.pin.digest = Sample.digest("5")
        var resolved = Sample.multi()
        resolved.request.reference = "127.0.0.1:5000/team/app:1.3"
        resolved.pin.tag = "1.3"
        resolved.pin.indexDigest = Sample.digest("5")
        resolved.pin.digest = Sample.digest("5")
        resolved.pin.images[0].manifestDigest = Sample.digest("4")
        let change = EntryChange(from: bumped, to: resolved)
        #expect(!change.moved, "the registry names the digest the bot wrote")
        #expect(change.old == Sample.digest("a"))
        #expect(change.oldTag == "1.2" && change.tag == "1.3")
        #expect(change.line == "app: 127.0.0.1:5000/team/app:1.3 sha256:aaaaaaaaaaaa… → sha256:555555555555…, linux/amd64 "
            + "(digest edited to sha256:555555555555…, the images are those of sha256:aaaaaaaaaaaa…; tag edited from 1.2 to 1.3)")
    }

    @Test func theReportIsStable() throws {
        var new = Sample.multi()
        new.pin.indexDigest = Sample.digest("5")
        new.pin.digest = Sample.digest("5")
        let change = EntryChange(from: Sample.multi(), to: new)
        let report = LockReport(
            lockFile: "hocker.lock.json", changed: [change], unchanged: ["zeta", "debian"],
            failed: [EntryFailure(name: "gone", image: "127.0.0.1:5000/team/gone:1", error: "manifest unknown")], written: true)
        try LockFileTests.check(try report.jsonBytes(), against: "report.json")
        #expect(report.unchanged == ["debian", "zeta"])
        #expect(report.total == 4)
    }
}
