import Foundation
import ImageReference
@testable import RegistryClient
import Testing

@Suite("Manifest parsing")
struct ManifestTests {
    static let hexA = String(repeating: "a", count: 64)
    static let hexB = String(repeating: "b", count: 64)

    static func parse(_ json: String, contentType: String? = nil) throws(RegistryError) -> FetchedManifest {
        let data = Data(json.utf8)
        return try FetchedManifest(bytes: data, contentType: contentType, digest: Digest.sha256(bytes: [UInt8](repeating: 0, count: 32)))
    }

    @Test func seedManifest() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/manifest-debian_jessie.json")
        let data = try Data(contentsOf: url)
        let manifest = try FetchedManifest(bytes: data, contentType: nil, digest: Digest.sha256(bytes: [UInt8](repeating: 0, count: 32)))
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

@Suite("HTTP details")
struct HTTPDetailTests {
    @Test(arguments: [
        ("registry.example.com", "example.com", true),
        ("registry.example.com", ".example.com", true),
        ("example.com", ".example.com", true),
        ("registry.example.com", "other.com,  example.com:443", true),
        ("registry.example.com", "*", true),
        ("registry.example.com", "ample.com", false),
        ("registry.example.com", "", false),
    ])
    func noProxy(_ host: String, _ noProxy: String, bypass: Bool) {
        #expect(HTTPClientFactory.bypasses(host: host, noProxy: noProxy) == bypass)
    }

    @Test func retryAfter() {
        #expect(RegistryClient.parseRetryAfter("3") == .seconds(3))
        #expect(RegistryClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").map { $0 < .zero } == true)
        #expect(RegistryClient.parseRetryAfter("soon") == nil)
    }
}
