import Foundation
import RegistryTestBed
import Testing

/// Every tag of regclient's test repository and of the suite's odd indexes,
/// read by hocker beside skopeo: the same bytes where skopeo succeeds, a
/// clear refusal where it refuses — or, where the two differ by design,
/// what each does and why (``ArtifactTests/differences``,
/// ``ArtifactTests/skopeoCannotKeep(_:)``). Each case prints
/// one `table:` line, what a person compares.
@Suite("Artifacts and indexes, beside skopeo", .artifactRegistry, .enabled(if: Integration.enabled, Integration.skipReason))
struct ArtifactTests {
    struct Reference: Sendable, Hashable, CustomTestStringConvertible {
        var repository: String
        var tag: String
        var testDescription: String { "\(repository):\(tag)" }
    }

    static let references: [Reference] =
        ArtifactFixture.testRepositoryTags.map { Reference(repository: ArtifactFixture.testRepository, tag: $0) }
        + ArtifactFixture.handmadeTags.map { Reference(repository: ArtifactFixture.handmadeRepository, tag: $0) }

    /// The referrers tag whose index lists another index (a subject loop's), which skopeo 1.9 cannot copy.
    static let nestedIndexTag = "sha256-8e54c6754f08d22f85c7552bb1951b228b8194d29b14a1639dbe50868da0273e"

    /// Where hocker and skopeo 1.9.3 part by design, per operation and tag.
    static let differences: [String: [String: String]] = [
        "docker-archive": [
            "norootfs": "a config without rootfs: skopeo writes an archive that skopeo and podman then refuse to read; hocker refuses to write it"
        ]
    ]

    /// Whether `raw` is an index that labels no entry with a platform and
    /// lists several: skopeo takes the first, hocker refuses, naming them
    /// all, to be picked by digest.
    static func severalUnlabelled(_ raw: Data) -> Bool {
        let entries = (try? JSONSerialization.jsonObject(with: raw) as? [String: Any])?["manifests"] as? [[String: Any]] ?? []
        return entries.count > 1 && entries.allSatisfy { $0["platform"] == nil }
    }

    static let severalUnlabelledNote = "entries without a platform: hocker refuses, naming their digests; skopeo takes the first"

    /// hocker's refusal of an index that labels none of its several entries.
    static func expectUnlabelledRefusal(_ result: ProcessResult) {
        #expect(result.status == 1)
        #expect(FailureOutput(result.stderrText).errorLine.contains("names no platform for its"), "\(result.stderrText)")
        #expect(result.stderrText.contains("hint: pick one by its digest: "), "\(result.stderrText)")
    }

    /// What skopeo cannot copy unchanged (it could not push it so either):
    /// an index whose entries carry `artifactType` (skopeo 1.9 re-encodes
    /// it), one that lists another index. hocker copies them as served.
    static func skopeoCannotKeep(_ reference: Reference) throws -> String? {
        try ArtifactFixture.shared.putInstead.first { $0.tag == reference.tag }.map { _ in
            "skopeo 1.9 cannot copy this index unchanged; hocker copies it as served"
        }
    }

    /// Stderr of a refusal: notes and warnings (`hocker: …`), then one error line and its hints.
    static func isRefusal(_ result: ProcessResult) -> Bool {
        let lines = result.stderrText.split(separator: "\n")
        guard let error = lines.firstIndex(where: { $0.hasPrefix("hocker: error: ") }) else { return false }
        return lines[..<error].allSatisfy { $0.hasPrefix("hocker: ") } && lines[(error + 1)...].allSatisfy { $0.hasPrefix("  hint: ") }
    }

    static func name(_ reference: Reference) throws -> String {
        "\(try ArtifactFixture.shared.registry.hostPort)/\(reference.repository):\(reference.tag)"
    }

    /// skopeo's outcome: nil when it succeeded, else its error's last line.
    static func skopeo(_ arguments: [String]) async -> String? {
        do {
            try await Skopeo.run(arguments)
            return nil
        } catch {
            return String(describing: error).split(separator: "\n").last(where: { $0.contains("level=fatal") || $0.contains("Error") }).map(String.init)
                ?? String(describing: error).suffix(200).description
        }
    }

    static func table(_ operation: String, _ reference: Reference, skopeo: String?, hocker: ProcessResult, note: String = "") {
        let hockerSays = hocker.succeeded ? "ok" : "exit \(hocker.status): \(FailureOutput(hocker.stderrText).errorLine)"
        print("table: \(operation) | \(reference.tag) | skopeo: \(skopeo.map { "fails: \($0.suffix(160))" } ?? "ok") | hocker: \(hockerSays)\(note.isEmpty ? "" : " | \(note)")")
    }

    /// The blobs of an OCI layout, by file name.
    static func blobs(of layout: String) -> [String: Data] {
        var blobs: [String: Data] = [:]
        for name in Scratch.contents(layout + "/blobs/sha256") {
            blobs[name] = FileManager.default.contents(atPath: layout + "/blobs/sha256/" + name)
        }
        return blobs
    }

    /// The digest `index.json` of a layout names.
    static func top(of layout: String) throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as? [String: Any]
        return (object?["manifests"] as? [[String: Any]])?.first?["digest"] as? String
    }

    // MARK: The fixture itself

    @Test func everyTagIsServedAsTheLayoutHasIt() throws {
        let fixture = try ArtifactFixture.shared
        #expect(ArtifactFixture.testRepositoryTags.count == 24)
        // What skopeo 1.9 could not push unchanged, pushed with a PUT of the same bytes.
        for (tag, error) in fixture.putInstead { print("pushed with PUT: \(tag): \(error.suffix(160))") }
        #expect(fixture.putInstead.count <= 6)
    }

    // MARK: Manifests, digests, tags

    @Test("manifest --index and digest: the bytes and digest skopeo inspect --raw reads", arguments: references)
    func manifestAndDigest(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let raw = try await Skopeo.inspectRaw("docker://" + name)
        let manifest = try await HockerBinary.run("hocker", ["manifest", "--index", name])
        #expect(manifest.succeeded, "\(manifest.stderrText)")
        #expect(manifest.stdout == raw)
        let digest = try await HockerBinary.run("hocker", ["digest", name])
        #expect(digest.stdoutText == sha256Digest(raw) + "\n", "\(digest.stderrText)")
        Self.table("manifest --index, digest", reference, skopeo: nil, hocker: manifest, note: manifest.stdout == raw ? "equal bytes" : "DIFFERENT")
    }

    @Test("tags: every tag skopeo lists", arguments: [ArtifactFixture.testRepository, ArtifactFixture.handmadeRepository])
    func tags(_ repository: String) async throws {
        let fixture = try ArtifactFixture.shared
        let listed = try await Skopeo.run(["list-tags", "--tls-verify=false", "docker://\(fixture.registry.hostPort)/\(repository)"]).stdout
        let expected = try #require(try JSONSerialization.jsonObject(with: listed) as? [String: Any])["Tags"] as? [String]
        let result = try await HockerBinary.run("hocker", ["tags", "\(fixture.registry.hostPort)/\(repository)"])
        #expect(result.succeeded, "\(result.stderrText)")
        #expect(Set(result.stdoutText.split(separator: "\n").map(String.init)) == Set(expected ?? []))
    }

    @Test("inspect: every image and artifact named as what it is; an empty index says so", arguments: references)
    func inspect(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let raw = try await Skopeo.inspectRaw("docker://" + name)
        let result = try await HockerBinary.run("hocker", ["inspect", "--json", name])
        Self.table("inspect --json", reference, skopeo: nil, hocker: result)
        if reference.tag == Self.nestedIndexTag {
            // Its one entry is an index: named, to be read by its digest.
            #expect(FailureOutput(result.stderrText).errorLine.contains("lists another index, sha256:"), "\(result.stderrText)")
            return
        }
        #expect(result.succeeded, "\(result.stderrText)")
        let document = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        #expect(document["digest"] as? String == sha256Digest(raw))
        let images = document["images"] as? [[String: Any]] ?? []
        let top = try #require(try JSONSerialization.jsonObject(with: raw) as? [String: Any])
        if let entries = top["manifests"] as? [[String: Any]] {
            let attestations = entries.filter { ($0["platform"] as? [String: Any])?["os"] as? String == "unknown" }
            #expect(images.count == entries.count - attestations.count)
        } else {
            #expect(images.count == 1)
            let artifact = top["artifactType"] as? String ?? ((top["config"] as? [String: Any])?["mediaType"] as? String).flatMap {
                $0 == "application/vnd.oci.image.config.v1+json" ? nil : $0
            }
            if let artifact { #expect(document["artifactType"] as? String == artifact) }
        }
        if reference.tag == "empty" {
            let text = try await HockerBinary.run("hocker", ["inspect", name])
            #expect(text.stdoutText.contains("(an empty index: it lists no manifest)"), "\(text.stdoutText)")
        }
    }

    // MARK: OCI layouts

    @Test("image --format oci --platform all: what skopeo copy --all copies, byte for byte", arguments: references)
    func wholeLayout(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let directory = try Scratch.directory("artifact-all")
        defer { Scratch.remove(directory) }
        let skopeo = await Self.skopeo(
            ["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "docker://" + name, "oci:\(directory)/skopeo:x"])
        let result = try await HockerBinary.run("hocker", ["image", "--format", "oci", "--platform", "all", "--out", directory + "/hocker", name])
        let difference = try Self.skopeoCannotKeep(reference)
        Self.table("oci --platform all", reference, skopeo: skopeo, hocker: result, note: difference ?? "")
        #expect(result.succeeded, "\(result.stderrText)")
        let ours = Self.blobs(of: directory + "/hocker")
        for (file, bytes) in ours { #expect("sha256:" + file == sha256Digest(bytes)) }
        #expect(try Self.top(of: directory + "/hocker") == sha256Digest(try await Skopeo.inspectRaw("docker://" + name)))
        if skopeo == nil {
            let theirs = Self.blobs(of: directory + "/skopeo")
            #expect(ours.keys.sorted() == theirs.keys.sorted(), "hocker: \(ours.keys.sorted()), skopeo: \(theirs.keys.sorted())")
            #expect(ours == theirs)
        } else {
            #expect(difference != nil, "skopeo failed where no difference is expected: \(skopeo ?? "")")
        }
    }

    @Test("image --format oci (this machine's platform): what skopeo copy copies", arguments: references)
    func oneImageLayout(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let directory = try Scratch.directory("artifact-one")
        defer { Scratch.remove(directory) }
        let skopeo = await Self.skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", "docker://" + name, "oci:\(directory)/skopeo:x"])
        let result = try await HockerBinary.run("hocker", ["image", "--format", "oci", "--out", directory + "/hocker", name])
        let unlabelled = Self.severalUnlabelled(try await Skopeo.inspectRaw("docker://" + name))
        Self.table("oci", reference, skopeo: skopeo, hocker: result, note: unlabelled ? Self.severalUnlabelledNote : "")
        switch (skopeo, unlabelled) {
        case (nil, false):
            #expect(result.succeeded, "\(result.stderrText)")
            #expect(Self.blobs(of: directory + "/hocker") == Self.blobs(of: directory + "/skopeo"))
            #expect(try Self.top(of: directory + "/hocker") == (try Self.top(of: directory + "/skopeo")))
        case (nil, true):
            Self.expectUnlabelledRefusal(result)
        case (_?, _):
            #expect(result.status == 1, "skopeo refused (\(skopeo ?? "")); hocker: \(result.stderrText)")
            #expect(Self.isRefusal(result), "\(result.stderrText)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/hocker") || result.succeeded)
    }

    // MARK: docker-archives

    @Test("image (docker-archive): loads where skopeo's does, refused before any file where skopeo refuses", arguments: references)
    func dockerArchive(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let directory = try Scratch.directory("artifact-docker")
        defer { Scratch.remove(directory) }
        var skopeo = await Self.skopeo(["copy", "--src-tls-verify=false", "docker://" + name, "docker-archive:\(directory)/skopeo.tar:x:y"])
        // An archive skopeo writes but cannot read back is one it refuses.
        if skopeo == nil { skopeo = await Self.skopeo(["inspect", "docker-archive:\(directory)/skopeo.tar"]) }
        let archive = directory + "/hocker.tar"
        let result = try await HockerBinary.run("hocker", ["image", "--out", archive, name])
        let difference = Self.differences["docker-archive"]?[reference.tag]
        if skopeo == nil, Self.severalUnlabelled(try await Skopeo.inspectRaw("docker://" + name)) {
            Self.table("docker-archive", reference, skopeo: skopeo, hocker: result, note: Self.severalUnlabelledNote)
            Self.expectUnlabelledRefusal(result)
            #expect(!FileManager.default.fileExists(atPath: archive))
            return
        }
        guard skopeo == nil else {
            Self.table("docker-archive", reference, skopeo: skopeo, hocker: result, note: difference ?? "")
            #expect(result.status == 1, "skopeo refused (\(skopeo ?? "")); hocker: \(result.stderrText)")
            #expect(Self.isRefusal(result), "\(result.stderrText)")
            #expect(!FileManager.default.fileExists(atPath: archive), "a refused image left \(archive)")
            let error = FailureOutput(result.stderrText).errorLine
            if error.contains("OCI artifact") || error.contains("the config of") {
                #expect(result.stderrText.contains("hint: copy it as it is into an OCI layout: --format oci"), "\(result.stderrText)")
            }
            #expect(Scratch.contents(directory).allSatisfy { $0.hasPrefix("skopeo") }, "\(Scratch.contents(directory))")
            return
        }
        #expect(result.succeeded, "\(result.stderrText)")
        let loaded = try await Podman.load(archive: archive)
        Self.table("docker-archive", reference, skopeo: nil, hocker: result, note: "podman load: \(loaded.split(separator: "\n").last ?? "")")
        // The same config and, uncompressed, the same layers as skopeo's archive.
        let ours = try await Self.archiveContents(archive, in: directory + "/h")
        let theirs = try await Self.archiveContents(directory + "/skopeo.tar", in: directory + "/s")
        #expect(ours.config == theirs.config)
        #expect(ours.layerDiffIDs == theirs.layerDiffIDs)
    }

    /// A docker-archive's config bytes and the digests of its layers uncompressed.
    static func archiveContents(_ archive: String, in directory: String) async throws -> (config: Data, layerDiffIDs: [String]) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try await runChecked("tar", ["-xf", archive, "-C", directory])
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))) as? [[String: Any]])
        let config = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + (manifest.first?["Config"] as? String ?? "")))
        var diffIDs: [String] = []
        for layer in manifest.first?["Layers"] as? [String] ?? [] {
            let path = directory + "/" + layer
            let head = FileManager.default.contents(atPath: path)?.prefix(2)
            if head == Data([0x1f, 0x8b]) {
                let unzipped = try await runChecked("gzip", ["-dc", path])
                diffIDs.append(sha256Digest(unzipped.stdout))
            } else {
                diffIDs.append(try sha256Digest(file: path))
            }
        }
        return (config, diffIDs)
    }

    // MARK: Pins

    @Test("lock add --platform all pins every image and artifact, with a HEAD of each config", arguments: references)
    func lockAdd(_ reference: Reference) async throws {
        let name = try Self.name(reference)
        let directory = try Scratch.directory("artifact-lock")
        defer { Scratch.remove(directory) }
        let result = try await HockerBinary.run("hocker", ["lock", "add", "--lock-file", directory + "/l.json", "--platform", "all", name])
        Self.table("lock add --platform all", reference, skopeo: nil, hocker: result)
        switch reference.tag {
        case "empty":
            #expect(result.status == 1)
            #expect(result.stderrText.contains("is an empty index: it lists no manifest"), "\(result.stderrText)")
            #expect(result.stderrText.contains("hocker.lock.json is unchanged") || result.stderrText.contains("l.json is unchanged"), "\(result.stderrText)")
        case Self.nestedIndexTag:
            #expect(result.status == 1)
            #expect(result.stderrText.contains("lists another index, sha256:"), "\(result.stderrText)")
        default:
            #expect(result.succeeded, "\(result.stderrText)")
            let lock = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/l.json"))) as? [String: Any])
            let entry = try #require((lock["entries"] as? [String: Any])?.values.first as? [String: Any])
            #expect(entry["digest"] as? String == sha256Digest(try await Skopeo.inspectRaw("docker://" + name)))
        }
    }

    @Test func lockAddNamesThePlatformWhoseConfigIsMissing() async throws {
        let fixture = try ArtifactFixture.shared
        let directory = try Scratch.directory("artifact-missing")
        defer { Scratch.remove(directory) }
        let name = "\(fixture.registry.hostPort)/\(ArtifactFixture.brokenRepository):v1"
        let lock = try await HockerBinary.run("hocker", ["lock", "add", "--lock-file", directory + "/l.json", "--platform", "all", name])
        #expect(lock.status == 1)
        #expect(lock.stderrText.contains("the config \(fixture.missingConfig) of the linux/arm64/v8 image of \(name)"), "\(lock.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/l.json"))
        // docker2nix of that platform alone: the same check.
        let nix = try await HockerBinary.run("docker2nix", ["--fetch", "--platform", "linux/arm64", name])
        #expect(nix.status == 1)
        #expect(nix.stderrText.contains("the config \(fixture.missingConfig) of the linux/arm64/v8 image"), "\(nix.stderrText)")
        // amd64's config is there.
        let amd64 = try await HockerBinary.run("docker2nix", ["--fetch", "--platform", "linux/amd64", name])
        #expect(amd64.succeeded, "\(amd64.stderrText)")
    }

    @Test("docker2nix: an artifact is refused in the fetchdocker format and pinned with its type in --json")
    func docker2nixOfAnArtifact() async throws {
        let name = try Self.name(Reference(repository: ArtifactFixture.testRepository, tag: "a1"))
        let fetchdocker = try await HockerBinary.run("docker2nix", ["--fetch", name])
        #expect(fetchdocker.status == 1)
        #expect(FailureOutput(fetchdocker.stderrText).errorLine.contains("is an OCI artifact (application/example.sbom), not a container image"))
        #expect(fetchdocker.stderrText.contains("docker2nix --format hocker"), "\(fetchdocker.stderrText)")
        let json = try await HockerBinary.run("docker2nix", ["--fetch", "--json", name])
        #expect(json.succeeded, "\(json.stderrText)")
        let pin = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let image = try #require((pin["images"] as? [[String: Any]])?.first)
        #expect(image["artifactType"] as? String == "application/example.sbom")
        #expect(image["platform"] is NSNull)
    }

    @Test("one entry without a platform: taken, with a note")
    func platformlessIndexNote() async throws {
        let name = try Self.name(Reference(repository: ArtifactFixture.handmadeRepository, tag: "platformless"))
        let result = try await HockerBinary.run("hocker", ["manifest", name])
        #expect(result.succeeded, "\(result.stderrText)")
        #expect(result.stderrText.contains("names no platform for its only manifest; taking it"), "\(result.stderrText)")
        let arm = try await HockerBinary.run("hocker", ["manifest", "--platform", "linux/arm64", name])
        #expect(arm.status == 1)
        #expect(FailureOutput(arm.stderrText).errorLine.contains("is a single linux/amd64 image, not linux/arm64"), "\(arm.stderrText)")
    }
}
