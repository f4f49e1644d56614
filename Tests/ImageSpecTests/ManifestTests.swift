import Foundation
import ImageReference
@testable import ImageSpec
import Testing

@Suite("Manifest parsing")
struct ManifestTests {
    static let hexA = String(repeating: "a", count: 64)
    static let hexB = String(repeating: "b", count: 64)

    static func parse(_ json: String, contentType: String? = nil) throws(ImageSpecError) -> ManifestDocument {
        let data = Data(json.utf8)
        return try ManifestDocument(bytes: data, contentType: contentType, digest: Digest.sha256(bytes: [UInt8](repeating: 0, count: 32)))
    }

    @Test func seedManifest() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/manifest-debian_jessie.json")
        let data = try Data(contentsOf: url)
        let manifest = try ManifestDocument(bytes: data, contentType: nil, digest: Digest.sha256(bytes: [UInt8](repeating: 0, count: 32)))
        let image = try #require(manifest.imageManifest)
        #expect(manifest.mediaType == MediaType.dockerManifest)
        #expect(image.config.size == 1528)
        #expect(image.layers.map(\.size) == [52_550_276])
    }

    @Test func ociIndexWithoutMediaType() throws {
        let manifest = try Self.parse("""
            {"schemaVersion":2,"manifests":[
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(Self.hexA)","size":10,"platform":{"os":"linux","architecture":"amd64"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(Self.hexB)","size":11,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(Self.hexB)","size":11,"platform":{"os":"unknown","architecture":"unknown"}}]}
            """)
        let index = try #require(manifest.index)
        #expect(manifest.mediaType == MediaType.ociIndex)
        #expect(index.platforms.map(\.description) == ["linux/amd64", "linux/arm64/v8"])
        #expect(index.entry(for: try Platform(parsing: "linux/arm64"))?.digest.hex == Self.hexB)
        #expect(index.entry(for: try Platform(parsing: "linux/s390x")) == nil)
    }

    /// What registries serve, and what it is taken for: the body's own
    /// `mediaType` first, then its shape, `Content-Type` last.
    struct Served: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var contentType: String?
        var mediaType: String
        var testDescription: String { name }
    }

    static let imageBody = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(hexA)","size":2},"layers":[]}"#
    static let indexBody = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(hexA)","size":2}]}"#

    static let served: [Served] = [
        Served(name: "an OCI index without mediaType, served as an image manifest", body: indexBody, contentType: MediaType.ociManifest, mediaType: MediaType.ociIndex),
        Served(name: "an OCI index without mediaType, served as a Docker manifest list", body: indexBody, contentType: MediaType.dockerManifestList, mediaType: MediaType.dockerManifestList),
        Served(name: "an OCI manifest without mediaType, served as an index", body: imageBody, contentType: MediaType.ociIndex, mediaType: MediaType.ociManifest),
        Served(name: "an OCI manifest without mediaType, no Content-Type", body: imageBody, contentType: nil, mediaType: MediaType.ociManifest),
        Served(name: "an OCI manifest without mediaType, application/json", body: imageBody, contentType: "application/json; charset=utf-8", mediaType: MediaType.ociManifest),
        Served(
            name: "an index that says so, served as an image manifest",
            body: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#, contentType: MediaType.dockerManifest,
            mediaType: MediaType.ociIndex),
    ]

    @Test("what a document is: its mediaType, its shape, then Content-Type", arguments: served)
    func decidesFromTheBody(_ served: Served) throws {
        let document = try Self.parse(served.body, contentType: served.contentType)
        #expect(document.mediaType == served.mediaType)
        #expect((document.index != nil) == MediaType.isIndex(served.mediaType))
    }

    @Test("zstd layers, the OCI type and docker's non-standard one, are kept as served", arguments: [MediaType.ociLayerZstd, MediaType.dockerLayerZstd])
    func zstdLayers(_ type: String) throws {
        let document = try Self.parse(#"""
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:\#(Self.hexA)","size":2},
             "layers":[{"mediaType":"\#(type)","digest":"sha256:\#(Self.hexB)","size":3}]}
            """#)
        #expect(document.imageManifest?.layers.first?.mediaType == type)
    }

    static let hexC = String(repeating: "c", count: 64)

    /// An index with amd64, arm64/v8, an attestation, and arm/v7.
    static func multiPlatformIndex() throws -> ImageIndex {
        try #require(try parse("""
            {"schemaVersion":2,"manifests":[
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(hexA)","size":10,"platform":{"os":"linux","architecture":"amd64"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(hexB)","size":11,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(hexB)","size":11,"platform":{"os":"unknown","architecture":"unknown"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(hexC)","size":12,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}
            """).index)
    }

    /// Selections and the entries (by digest letter) they pick, in order.
    @Test(arguments: [
        (["linux/amd64"], "a"),
        (["linux/arm64"], "b"),
        (["linux/arm/v7", "linux/amd64"], "ca"),
        (["linux/arm64", "linux/arm64/v8", "linux/amd64"], "ba"),
    ])
    func selectsPlatforms(_ wanted: [String], picks: String) throws {
        let entries = try Self.multiPlatformIndex().select(try PlatformChoice(parsing: wanted), image: "r/x:1").entries
        #expect(String(entries.map { $0.digest.hex.first! }) == picks)
    }

    @Test func selectsEveryImageButAttestations() throws {
        let entries = try Self.multiPlatformIndex().select(.all, image: "r/x:1").entries
        #expect(entries.map { $0.platform?.platform.description } == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"])
    }

    @Test func missingPlatformNamesTheOnesThere() throws {
        let error = #expect(throws: ImageSpecError.self) {
            try Self.multiPlatformIndex().select(.platforms([.host, try Platform(parsing: "linux/s390x")]), image: "r/x:1")
        }
        let text = error?.description ?? ""
        #expect(text.contains("linux/s390x") && text.contains("r/x:1") && text.contains("linux/amd64, linux/arm64/v8, linux/arm/v7"), "\(text)")
    }

    @Test func indexOfAttestationsOnlyHasNothingForAll() throws {
        let index = try #require(try Self.parse("""
            {"schemaVersion":2,"manifests":[
              {"mediaType":"\(MediaType.ociManifest)","digest":"sha256:\(Self.hexB)","size":11,"platform":{"os":"unknown","architecture":"unknown"}}]}
            """).index)
        #expect(try index.select(.all, image: "r/x:1").entries.isEmpty)
        #expect(throws: ImageSpecError.self) { try index.select(.host, image: "r/x:1") }
    }

    @Test(arguments: [
        ("not json", "not a JSON manifest"),
        (#"{"schemaVersion":1,"name":"x"}"#, "schema 1"),
        (#"{"schemaVersion":3}"#, "schemaVersion"),
        (#"{"schemaVersion":2,"mediaType":"text/plain"}"#, "unsupported"),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:abc","size":1},"layers":[]}"#, "digest"),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:\#(String(repeating: "a", count: 64))","size":-1},"layers":[]}"#, "negative"),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, "config"),
    ])
    func refusesBadManifests(_ json: String, mentioning: String) {
        do {
            _ = try Self.parse(json)
            Issue.record("expected an error for \(json)")
        } catch {
            #expect(error.description.lowercased().contains(mentioning.lowercased()), "\(error.description)")
        }
    }
}

