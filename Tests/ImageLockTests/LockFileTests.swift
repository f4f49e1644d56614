import Foundation
import ImageLock
import ImageReference
import ImageSpec
import ImageTrust
import Testing

/// Lock entries built from fixed digests, no registry.
enum Sample {
    static func digest(_ fill: Character) -> Digest {
        try! Digest(parsing: "sha256:" + String(repeating: fill, count: 64))
    }

    static func blob(_ fill: Character, _ size: Int64, _ type: String = "application/vnd.oci.image.layer.v1.tar+gzip") -> Descriptor {
        Descriptor(mediaType: type, digest: digest(fill), size: size)
    }

    static func image(_ platform: String?, manifest: Character, config: Character, layers: [Character]) -> ImagePin.PlatformImage {
        ImagePin.PlatformImage(
            platform: platform, manifestDigest: digest(manifest), manifestMediaType: MediaType.ociManifest, manifestSize: 500,
            config: blob(config, 1000, MediaType.ociConfig), layers: layers.map { blob($0, 20_000) })
    }

    /// `team/app:1.2` behind an index, amd64 and arm64/v8 sharing a base layer.
    static func multi() -> LockEntry {
        LockEntry(
            request: LockRequest(reference: "127.0.0.1:5000/team/app:1.2", platforms: ["all"], finalName: "app", finalTag: "stable"),
            pin: ImagePin(
                name: "app", registry: "http://127.0.0.1:5000/v2/", repository: "team/app", tag: "1.2",
                indexDigest: digest("a"), indexMediaType: MediaType.ociIndex,
                images: [
                    image("linux/amd64", manifest: "b", config: "c", layers: ["d", "e"]),
                    image("linux/arm64/v8", manifest: "f", config: "0", layers: ["d", "9"]),
                ]),
            trust: [
                digest("a").description: [proof("a")],
                digest("b").description: [proof("b")],
                digest("f").description: [
                    TrustProof(
                        type: "sigstoreSigned", certificateIdentity: "ci@example.com", certificateIssuer: "https://oauth2.example.com/auth",
                        signedIdentity: "127.0.0.1:5000/team/app:1.2", signature: .referrer(digest("7"))),
                ],
            ])
    }

    /// A simple-signing proof of manifest `fill`: its lookaside signature, the key that made it.
    static func proof(_ fill: Character) -> TrustProof {
        TrustProof(
            type: "signedBy", keyFingerprint: "08CD26E446E2E95249B7A405E932F44B23E8DD43", signedIdentity: "127.0.0.1:5000/team/app:1.2",
            signature: .lookaside("https://sigs.example.com/team/app@sha256=\(String(repeating: fill, count: 64))/signature-1"))
    }

    /// `debian:bookworm` on Docker Hub, a single image manifest.
    static func single() -> LockEntry {
        LockEntry(
            request: LockRequest(reference: "debian:bookworm", platforms: ["linux/amd64"]),
            pin: ImagePin(
                name: "debian", registry: "https://registry-1.docker.io/v2/", repository: "library/debian", tag: "bookworm",
                images: [image("linux/amd64", manifest: "1", config: "2", layers: ["3"])]))
    }

    static func lock() -> LockFile {
        LockFile(entries: ["app": multi(), "debian": single()])
    }
}

/// The lock file's format: its golden bytes, stability, and what it refuses.
@Suite("Lock file")
struct LockFileTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func golden(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent(name))
    }

    /// Compares with the golden file (HOCKER_UPDATE_GOLDEN=1 rewrites it).
    static func check(_ actual: Data, against name: String) throws {
        if ProcessInfo.processInfo.environment["HOCKER_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: fixtures.appendingPathComponent(name))
            return
        }
        let expected = try golden(name)
        #expect(actual == expected, "differs from Fixtures/\(name) (HOCKER_UPDATE_GOLDEN=1 rewrites it):\n\(String(decoding: actual, as: UTF8.self))")
    }

    @Test func theFileIsTheGoldenOne() throws {
        try Self.check(try Sample.lock().jsonBytes(), against: "hocker.lock.json")
    }

    @Test func readingAndWritingAgainGivesTheSameBytes() throws {
        let bytes = try Self.golden("hocker.lock.json")
        let lock = try LockFile(bytes: bytes, path: "hocker.lock.json")
        #expect(lock == Sample.lock())
        #expect(try lock.jsonBytes() == bytes)
        // Entries in any order in memory, the same bytes out.
        var reordered = LockFile()
        for name in lock.names.reversed() { reordered.entries[name] = lock.entries[name] }
        #expect(try reordered.jsonBytes() == bytes)
    }

    /// An entry is the `docker2nix --json` document with a `request` (and, pinned under a policy, `trust`) beside its fields.
    @Test func anEntryIsThePinDocumentWithItsRequest() throws {
        let entry = Sample.multi()
        let object = try #require(try JSONSerialization.jsonObject(with: try Sample.lock().jsonBytes()) as? [String: Any])
        let entries = try #require(object["entries"] as? [String: Any])
        let written = try #require(entries["app"] as? [String: Any])
        let pin = try #require(try JSONSerialization.jsonObject(with: Data(try entry.pin.jsonBytes())) as? [String: Any])
        #expect(Set(written.keys) == Set(pin.keys).union(["request", "trust"]))
        let debian = try #require(entries["debian"] as? [String: Any])
        #expect(debian["trust"] == nil, "an entry pinned under no policy has no trust key")
        #expect(written["digest"] as? String == Sample.digest("a").description)
        #expect(try JSONDecoder().decode(ImagePin.self, from: JSONSerialization.data(withJSONObject: written)) == entry.pin)
        #expect(object["formatVersion"] as? Int == 1)
    }

    /// A pin written before `digest` and `mediaType` existed reads as naming
    /// its index, else its single manifest.
    @Test(arguments: [(Sample.multi(), Sample.digest("a"), MediaType.ociIndex), (Sample.single(), Sample.digest("1"), MediaType.ociManifest)])
    func anOlderPinDocumentGetsItsDigest(_ entry: LockEntry, _ digest: Digest, _ mediaType: String) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try entry.pin.jsonBytes())) as? [String: Any])
        object["digest"] = nil
        object["mediaType"] = nil
        let pin = try JSONDecoder().decode(ImagePin.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(pin.digest == digest)
        #expect(pin.mediaType == mediaType)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var label: String
        var edit: @Sendable (inout [String: Any]) -> Void
        var mentions: String
        var testDescription: String { label }
    }

    static let bad: [Bad] = [
        Bad(label: "a newer format", edit: { $0["formatVersion"] = 2 }, mentions: "has formatVersion 2; this hocker reads 1"),
        Bad(label: "no format version", edit: { $0["formatVersion"] = nil }, mentions: "it has no formatVersion"),
        Bad(label: "an entry under another name", edit: { document in
            var entries = document["entries"] as! [String: Any]
            entries["other"] = entries["app"]
            entries["app"] = nil
            document["entries"] = entries
        }, mentions: #"the entry under "other" names itself "app""#),
        Bad(label: "a digest that is no digest", edit: { document in
            var entries = document["entries"] as! [String: Any]
            var app = entries["app"] as! [String: Any]
            app["digest"] = "sha256:XYZ"
            entries["app"] = app
            document["entries"] = entries
        }, mentions: ".entries.app.digest: invalid digest 'sha256:XYZ'"),
        Bad(label: "no request", edit: { document in
            var entries = document["entries"] as! [String: Any]
            var app = entries["app"] as! [String: Any]
            app["request"] = nil
            entries["app"] = app
            document["entries"] = entries
        }, mentions: "missing field .entries.app.request"),
    ]

    @Test(arguments: bad)
    func malformedFilesAreRefusedNamingTheFile(_ bad: Bad) throws {
        var document = try #require(try JSONSerialization.jsonObject(with: try Sample.lock().jsonBytes()) as? [String: Any])
        bad.edit(&document)
        let bytes = try JSONSerialization.data(withJSONObject: document)
        #expect {
            _ = try LockFile(bytes: bytes, path: "ci/images.lock.json")
        } throws: { error in
            let error = error as? LockFileError
            return error?.message.contains("ci/images.lock.json") == true && error?.message.contains(bad.mentions) == true && error?.exitStatus == .usage
        }
    }

    @Test func aFileThatIsNotJSONIsRefused() {
        #expect(throws: LockFileError.malformed(path: "x.json", reason: "it is not a JSON object")) {
            _ = try LockFile(bytes: Data("<<<".utf8), path: "x.json")
        }
    }

    @Test(arguments: [
        ("team/app", "app"), ("library/debian", "debian"), ("a/b/c-d.e", "c-d.e"), ("single", "single"),
    ])
    func defaultNames(_ repository: String, _ name: String) {
        #expect(LockFile.defaultName(repository: repository) == name)
    }

    @Test(arguments: [("app", true), ("my_app-2.0", true), ("_x", true), ("-x", false), (".x", false), ("a/b", false), ("", false),
                      ("a b", false), (String(repeating: "a", count: 129), false), ("é", false)])
    func names(_ name: String, _ valid: Bool) {
        #expect(((try? LockFile.validate(name: name)) != nil) == valid)
    }

    @Test(arguments: [
        ([] as [String], ["app", "debian"]),
        (["debian"], ["debian"]),
        (["127.0.0.1:5000/team/app"], ["app"]),
        (["127.0.0.1:5000/team/app:1.2"], ["app"]),
        (["library/debian", "app", "app"], ["app", "debian"]),
        (["debian:bookworm"], ["debian"]),
        (["docker.io/library/debian"], ["debian"]),
    ])
    func selectingByNameOrImage(_ arguments: [String], _ names: [String]) throws {
        #expect(try Sample.lock().select(arguments, path: "hocker.lock.json") == names)
    }

    @Test(arguments: [["nothing"], ["127.0.0.1:5000/team/app:1.3"], ["127.0.0.1:5001/team/app"]])
    func selectingWhatIsNotThereNamesTheEntries(_ arguments: [String]) {
        #expect(throws: LockFileError.unknownEntry(arguments[0], path: "hocker.lock.json", names: ["app", "debian"])) {
            _ = try Sample.lock().select(arguments, path: "hocker.lock.json")
        }
    }
}
