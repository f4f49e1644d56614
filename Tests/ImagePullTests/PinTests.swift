import Foundation
import ImageReference
import ImageSpec
import Testing

/// A pin made from manifests alone: the digests, sizes and media types it
/// keeps, and its JSON document.
@Suite("Pins from manifests")
struct PinTests {
    static func hex(_ fill: Character) -> String { String(repeating: fill, count: 64) }

    static func manifest() throws -> ManifestDocument {
        try ManifestDocument(bytes: Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\(hex("c"))","size":120,
                       "annotations":{"dropped":"yes"}},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\(hex("d"))","size":3000},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:\(hex("e"))","size":40,
                        "urls":["https://example.com/x"]}]}
            """.utf8), contentType: nil)
    }

    @Test func aPlatformImageKeepsDigestSizeAndType() throws {
        let document = try Self.manifest()
        let manifest = try #require(document.imageManifest)
        let image = ImagePin.PlatformImage(platform: try Platform(parsing: "linux/arm64/v8"), document: document, manifest: manifest)
        #expect(image.platform == "linux/arm64/v8")
        #expect(image.manifestDigest == document.digest)
        #expect(image.manifestSize == Int64(document.bytes.count))
        #expect(image.manifestMediaType == "application/vnd.oci.image.manifest.v1+json")
        #expect(image.config == Descriptor(mediaType: "application/vnd.oci.image.config.v1+json", digest: try Digest(parsing: "sha256:" + Self.hex("c")), size: 120))
        #expect(image.layers.map(\.size) == [3000, 40])
        #expect(image.layers.allSatisfy { $0.urls == nil && $0.annotations == nil })
        #expect(image.manifest == document.descriptor)
    }

    @Test func theJSONDocumentCarriesSRIHashesAndReadsBack() throws {
        let document = try Self.manifest()
        let pin = ImagePin(
            name: "app", registry: "http://127.0.0.1:5000/v2/", repository: "team/app", tag: "v1",
            images: [ImagePin.PlatformImage(platform: nil, document: document, manifest: try #require(document.imageManifest))])
        let json = try pin.jsonBytes()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        let images = try #require(object["images"] as? [[String: Any]])
        let config = try #require(images.first?["config"] as? [String: Any])
        #expect(config["hash"] as? String == "sha256-" + Data(repeating: 0xcc, count: 32).base64EncodedString())
        #expect(images.first?.keys.contains("platform") == true, "absent values are written as null")
        #expect(try JSONDecoder().decode(ImagePin.self, from: Data(json)) == pin)
        #expect(json.last == UInt8(ascii: "\n"))
    }
}
