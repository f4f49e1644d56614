import ImageLock
import ImageReference
import ImageSpec
import Testing

/// What a load takes from an entry without asking anything: the image a
/// platform picks and the names the image gets, as nix/'s fromLock gives them.
@Suite("Lock entries loaded")
struct LockEntryLoadTests {
    struct Names: Sendable, CustomTestStringConvertible {
        var label: String
        var entry: @Sendable () -> LockEntry
        var names: [String]
        var testDescription: String { label }
    }

    static let names: [Names] = [
        Names(label: "final name and tag", entry: Sample.multi, names: ["app:stable"]),
        Names(label: "Docker Hub, shortened", entry: Sample.single, names: ["debian:bookworm"]),
        Names(label: "another registry, spelt out", entry: {
            var entry = Sample.multi()
            entry.request.finalName = nil
            entry.request.finalTag = nil
            return entry
        }, names: ["127.0.0.1:5000/team/app:1.2"]),
        Names(label: "a final name, the entry's tag", entry: {
            var entry = Sample.single()
            entry.request.finalName = "base"
            return entry
        }, names: ["base:bookworm"]),
        Names(label: "no tag: no name", entry: {
            var entry = Sample.single()
            entry.pin.tag = nil
            return entry
        }, names: []),
    ]

    @Test(arguments: names)
    func loadedNames(_ example: Names) throws {
        #expect(try example.entry().loadedNames() == example.names)
    }

    struct Pick: Sendable, CustomTestStringConvertible {
        var label: String
        var entry: @Sendable () -> LockEntry
        var choice: PlatformChoice
        /// The manifest digest picked; nil when the pick must fail.
        var manifest: Character?
        var testDescription: String { label }
    }

    static let picks: [Pick] = [
        Pick(label: "an index, this machine", entry: Sample.multi, choice: .host, manifest: Platform.host.architecture == "arm64" ? "f" : "b"),
        Pick(label: "an index, a platform asked", entry: Sample.multi, choice: .exactly(Platform(os: "linux", architecture: "arm64", variant: "v8")), manifest: "f"),
        Pick(label: "an index, a platform it lacks", entry: Sample.multi, choice: .exactly(Platform(os: "linux", architecture: "s390x")), manifest: nil),
        Pick(label: "a single image for another platform", entry: Sample.single, choice: .exactly(Platform(os: "linux", architecture: "arm64")), manifest: nil),
        Pick(label: "a single image for another platform, any", entry: Sample.single, choice: .any, manifest: "1"),
        Pick(label: "a single image naming no platform", entry: {
            var entry = Sample.single()
            entry.pin.images[0].platform = nil
            return entry
        }, choice: .exactly(Platform(os: "linux", architecture: "riscv64")), manifest: "1"),
    ]

    @Test(arguments: picks)
    func platformPick(_ example: Pick) throws {
        let pin = example.entry().pin
        guard let manifest = example.manifest else {
            #expect(throws: ImageSpecError.self) { try pin.image(for: example.choice) }
            return
        }
        #expect(try pin.image(for: example.choice).manifestDigest == Sample.digest(manifest))
    }
}
