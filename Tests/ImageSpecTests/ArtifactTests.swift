import Foundation
import ImageReference
@testable import ImageSpec
import Testing

/// OCI 1.1 artifacts and indexes as the spec allows them: what hocker
/// takes a document for, and what it picks from an index.
@Suite("Artifacts and indexes")
struct ArtifactTests {
    static let hexA = String(repeating: "a", count: 64)
    static let hexB = String(repeating: "b", count: 64)

    static func parse(_ json: String, contentType: String? = nil) throws(ImageSpecError) -> ManifestDocument {
        try ManifestDocument(bytes: Data(json.utf8), contentType: contentType)
    }

    static func manifest(artifactType: String? = nil, config: String, layers: [String]) -> String {
        let type = artifactType.map { #""artifactType":"\#($0)","# } ?? ""
        let layerList = layers.map { #"{"mediaType":"\#($0)","digest":"sha256:\#(hexB)","size":5}"# }.joined(separator: ",")
        return #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\#(type)"config":{"mediaType":"\#(config)","digest":"sha256:\#(hexA)","size":2},"layers":[\#(layerList)]}"#
    }

    struct Kind: Sendable, CustomTestStringConvertible {
        var name: String
        var json: String
        /// nil: a container image.
        var artifact: String?
        var testDescription: String { name }
    }

    static let kinds: [Kind] = [
        Kind(name: "an OCI image", json: manifest(config: MediaType.ociConfig, layers: [MediaType.ociLayerGzip]), artifact: nil),
        Kind(name: "a Docker image", json: manifest(config: MediaType.dockerConfig, layers: [MediaType.dockerLayerGzip, MediaType.dockerForeignLayerGzip]), artifact: nil),
        Kind(name: "an image with no layers", json: manifest(config: MediaType.ociConfig, layers: []), artifact: nil),
        Kind(name: "a zstd image", json: manifest(config: MediaType.ociConfig, layers: [MediaType.ociLayerZstd, MediaType.ociLayer]), artifact: nil),
        Kind(
            name: "artifactType and the empty config", json: manifest(artifactType: "application/example.sbom", config: MediaType.ociEmpty, layers: ["application/example.sbom.breakfast"]),
            artifact: "application/example.sbom"),
        Kind(name: "the empty config alone", json: manifest(config: MediaType.ociEmpty, layers: ["text/plain"]), artifact: MediaType.ociEmpty),
        Kind(name: "a Helm chart's config", json: manifest(config: "application/vnd.cncf.helm.config.v1+json", layers: ["application/vnd.cncf.helm.chart.content.v1.tar+gzip"]), artifact: "application/vnd.cncf.helm.config.v1+json"),
        Kind(
            name: "an attestation: an image config, in-toto layers", json: manifest(config: MediaType.ociConfig, layers: ["application/vnd.in-toto+json"]),
            artifact: "application/vnd.in-toto+json"),
        Kind(
            name: "artifactType beside an image config", json: manifest(artifactType: "application/vnd.example+type", config: MediaType.ociConfig, layers: [MediaType.ociLayerGzip]),
            artifact: "application/vnd.example+type"),
    ]

    @Test("what a manifest is an artifact of, or that it is an image", arguments: kinds)
    func classifies(_ kind: Kind) throws {
        let manifest = try #require(try Self.parse(kind.json).imageManifest)
        #expect(manifest.artifact == kind.artifact)
        #expect(manifest.isImage == (kind.artifact == nil))
    }

    @Test func keepsSubjectArtifactTypeAndData() throws {
        let json = #"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/example",
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:\#(Self.hexA)","size":2,"data":"e30="},
             "layers":[{"mediaType":"application/example","digest":"sha256:\#(Self.hexB)","size":8}],
             "subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:\#(Self.hexB)","size":934}}
            """#
        let manifest = try #require(try Self.parse(json).imageManifest)
        #expect(manifest.config.data == "e30=")
        #expect(manifest.subject?.size == 934)
        #expect(manifest.artifactType == "application/example")
    }

    // MARK: Indexes

    static func entry(_ letter: Character, platform: String? = nil, artifactType: String? = nil) -> String {
        let hex = String(repeating: letter, count: 64)
        var fields = [#""mediaType":"application/vnd.oci.image.manifest.v1+json""#, #""digest":"sha256:\#(hex)""#, #""size":10"#]
        if let platform {
            let parts = platform.split(separator: "/")
            fields.append(#""platform":{"os":"\#(parts[0])","architecture":"\#(parts[1])"}"#)
        }
        if let artifactType { fields.append(#""artifactType":"\#(artifactType)""#) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func index(_ entries: [String]) throws -> ImageIndex {
        try #require(try parse(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(entries.joined(separator: ","))]}"#).index)
    }

    struct Pick: Sendable, CustomTestStringConvertible {
        var name: String
        var entries: [String]
        var choice: PlatformChoice
        /// The digest letters picked; nil when refused.
        var picks: String?
        var unlabelled = false
        /// In the refusal.
        var says: [String] = []
        var testDescription: String { name }
    }

    static let picks: [Pick] = [
        Pick(name: "one entry without a platform, for this machine", entries: [entry("a")], choice: .host, picks: "a", unlabelled: true),
        Pick(name: "one entry without a platform, for a named one", entries: [entry("a")], choice: .exactly(Platform(os: "linux", architecture: "s390x")), picks: "a", unlabelled: true),
        Pick(name: "one entry without a platform, any", entries: [entry("a")], choice: .any, picks: "a", unlabelled: true),
        Pick(
            name: "two entries without a platform", entries: [entry("a", artifactType: "application/example.sbom"), entry("b")], choice: .host, picks: nil,
            says: ["names no platform for its 2 manifests", "sha256:\(hexA) (application/example.sbom)", "sha256:\(hexB)"]),
        Pick(name: "two entries without a platform, all", entries: [entry("a"), entry("b")], choice: .all, picks: "ab"),
        Pick(name: "an empty index", entries: [], choice: .host, picks: nil, says: ["is an empty index"]),
        Pick(name: "an empty index, all", entries: [], choice: .all, picks: ""),
        Pick(
            name: "a labelled image beside an unlabelled entry", entries: [entry("a", platform: "linux/s390x"), entry("b")],
            choice: .exactly(Platform(os: "linux", architecture: "ppc64le")), picks: nil, says: ["no image for platform linux/ppc64le", "it has: linux/s390x"]),
        Pick(name: "attestations only", entries: [entry("a", platform: "unknown/unknown")], choice: .host, picks: nil, says: ["labels no entry with a platform"]),
        Pick(name: "attestations only, all", entries: [entry("a", platform: "unknown/unknown")], choice: .all, picks: ""),
    ]

    @Test("what an index gives for a platform choice", arguments: picks)
    func picksFromIndexes(_ pick: Pick) throws {
        let index = try Self.index(pick.entries)
        guard let expected = pick.picks else {
            let error = #expect(throws: ImageSpecError.self) { try index.select(pick.choice, image: "127.0.0.1:5000/r/x:1") }
            for phrase in pick.says { #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "") lacks \(phrase)") }
            if case .unlabelledEntries? = error {
                #expect(error?.hints.first == "pick one by its digest: 127.0.0.1:5000/r/x@sha256:\(Self.hexA)")
            }
            return
        }
        let selection = try index.select(pick.choice, image: "127.0.0.1:5000/r/x:1")
        #expect(String(selection.entries.map { $0.digest.hex.first! }) == expected)
        #expect(selection.unlabelled == pick.unlabelled)
    }

    // MARK: Schema 1

    @Test(
        "schema 1 is named by the media type it was served as",
        arguments: [
            (#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#, nil as String?, MediaType.dockerSchema1),
            (#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[],"signatures":[]}"#, nil, MediaType.dockerSchema1Signed),
            (#"{"schemaVersion":1,"name":"x"}"#, MediaType.dockerSchema1, MediaType.dockerSchema1),
            (#"{"schemaVersion":1,"name":"x","signatures":[]}"#, MediaType.dockerSchema1 + "; charset=utf-8", MediaType.dockerSchema1),
            (#"{"schemaVersion":1,"name":"x"}"#, MediaType.dockerSchema1Signed, MediaType.dockerSchema1Signed),
        ])
    func schema1Named(_ body: String, contentType: String?, named: String) {
        let error = #expect(throws: ImageSpecError.self) { try Self.parse(body, contentType: contentType) }
        #expect(error == .unsupportedManifest(named, reason: "Docker schema 1 manifests are deprecated; re-push the image with a current client"))
    }

    // MARK: Configs a docker-archive needs

    @Test(
        "a config docker and podman load, or why not",
        arguments: [
            (#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:\#(hexA)"]}}"#, 1, nil as String?),
            (#"{"architecture":"amd64","os":"linux"}"#, 0, "has no rootfs"),
            ("{}", 1, "has no rootfs"),
            (#"{"rootfs":{"type":"layers","diff_ids":[]}}"#, 2, "lists 0 diff_ids for 2 layers"),
            (#"{"rootfs":{"type":"layers","diff_ids":["sha256:\#(hexA)","sha256:\#(hexB)"]}}"#, 1, "lists 2 diff_ids for 1 layer"),
            (#"{"rootfs":{"type":"snapshot","diff_ids":[]}}"#, 0, #"has rootfs.type "snapshot""#),
        ])
    func loadableConfigs(_ json: String, layers: Int, reason: String?) throws {
        let said = try ImageConfiguration(bytes: Data(json.utf8)).unloadableReason(layers: layers)
        if let reason {
            #expect(said?.hasPrefix(reason) == true, "\(said ?? "nil")")
        } else {
            #expect(said == nil)
        }
    }

    // MARK: regclient's test repository

    static let testRepository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/regclient-testrepo")

    /// Every tag of the fixture, with what it is taken for: an image, an artifact of a type, or an index.
    @Test func regclientTestRepository() throws {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.testRepository.appendingPathComponent("index.json"))) as? [String: Any]
        var kinds: [String: String] = [:]
        for entry in index?["manifests"] as? [[String: Any]] ?? [] {
            guard let tag = (entry["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"], let digest = entry["digest"] as? String else { continue }
            let bytes = try Data(contentsOf: Self.testRepository.appendingPathComponent("blobs/sha256/" + digest.dropFirst("sha256:".count)))
            let document = try ManifestDocument(bytes: bytes, contentType: nil)
            #expect(document.digest.description == digest)
            switch document.content {
            case .image(let manifest): kinds[tag] = manifest.artifact ?? "image"
            case .index(let index): kinds[tag] = "index of \(index.manifests.count)" + (index.artifactType.map { " \($0)" } ?? "")
            }
        }
        #expect(kinds["a1"] == "application/example.sbom")
        #expect(kinds["a2"] == "application/example.signature")
        #expect(kinds["a3"] == "application/example.layers")
        #expect(kinds["a-example"] == "application/example")
        #expect(kinds["a-docker"] == "application/vnd.example.build-type+json")
        #expect(kinds["child"] == "application/example.child")
        #expect(kinds["ai"] == "index of 2 application/example.artifacts")
        #expect(kinds["loop"] == "index of 1 application/example.loop")
        #expect(kinds["v1"] == "index of 4")
        #expect(kinds["b1"] == "index of 4")
    }
}
