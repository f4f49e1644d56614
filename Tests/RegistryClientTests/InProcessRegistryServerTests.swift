import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The in-process registry itself, asked with the test bed's plain HTTP
/// client: what it serves where the project's client has no API yet
/// (referrers), and the answers the other suites rely on.
@Suite("In-process registry: the server", .timeLimit(.minutes(1)))
struct InProcessRegistryServerTests {
    /// The referrers of a manifest, all or filtered by `artifactType` (said
    /// in `OCI-Filters-Applied`); an unknown subject has none.
    @Test func referrers() async throws {
        try await InProcessBed.run { bed in
            let subject = bed.image.top
            let signature = ImageFixture.artifact(
                subject: subject, artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
                blobs: [FixtureBlob(Data("sig".utf8), mediaType: "application/vnd.dev.cosign.simplesigning.v1+json")])
            let sbom = ImageFixture.artifact(
                subject: subject, artifactType: "application/spdx+json", blobs: [FixtureBlob(Data("{}".utf8), mediaType: "application/spdx+json")],
                annotations: ["org.opencontainers.image.created": "1970-01-01T00:00:00Z"])
            bed.registry.push(artifact: signature, to: bed.repository)
            bed.registry.push(artifact: sbom, to: bed.repository)
            let base = bed.registry.v2URL + "team/app/referrers/"

            let all = try await TestHTTP.request("GET", base + subject.digest)
            #expect(all.status == 200)
            #expect(all.header("Content-Type") == "application/vnd.oci.image.index.v1+json")
            #expect(all.header("OCI-Filters-Applied") == nil)
            #expect(Set(try Self.referrerDigests(all.body)) == [signature.manifest.digest, sbom.manifest.digest])

            let filtered = try await TestHTTP.request("GET", base + subject.digest + "?artifactType=application/spdx%2Bjson")
            #expect(filtered.header("OCI-Filters-Applied") == "artifactType")
            #expect(try Self.referrerDigests(filtered.body) == [sbom.manifest.digest])

            let none = try await TestHTTP.request("GET", base + "sha256:" + String(repeating: "0", count: 64))
            #expect(none.status == 200)
            #expect(try Self.referrerDigests(none.body).isEmpty)
        }
    }

    /// A manifest pushed with `PUT`: by digest or by tag, answered 201 with
    /// its digest, `OCI-Subject` for one with a subject (then listed among
    /// that digest's referrers), none for one without; a digest that is not
    /// the body's is refused, and so is a push without a media type.
    @Test func pushes() async throws {
        try await InProcessBed.run { bed in
            let subject = bed.image.top
            let sbom = ImageFixture.artifact(
                subject: subject, artifactType: "application/spdx+json", blobs: [FixtureBlob(Data("{}".utf8), mediaType: "application/spdx+json")])
            let manifests = bed.registry.v2URL + "team/app/manifests/"
            let type = [("Content-Type", sbom.manifest.mediaType)]

            let byDigest = try await TestHTTP.request("PUT", manifests + sbom.manifest.digest, headers: type, body: sbom.manifest.bytes)
            #expect(byDigest.status == 201, "\(byDigest.bodyText)")
            #expect(byDigest.header("Docker-Content-Digest") == sbom.manifest.digest)
            #expect(byDigest.header("OCI-Subject") == subject.digest)
            let listed = try await TestHTTP.request("GET", bed.registry.v2URL + "team/app/referrers/" + subject.digest)
            #expect(try Self.referrerDigests(listed.body) == [sbom.manifest.digest])

            let plain = bed.image.manifests[0].manifest
            let byTag = try await TestHTTP.request("PUT", manifests + "pushed", headers: [("Content-Type", plain.mediaType)], body: plain.bytes)
            #expect(byTag.status == 201)
            #expect(byTag.header("OCI-Subject") == nil)
            let served = try await TestHTTP.request("GET", manifests + "pushed")
            #expect(served.body == plain.bytes && served.header("Content-Type") == plain.mediaType)

            let wrong = try await TestHTTP.request("PUT", manifests + subject.digest, headers: type, body: sbom.manifest.bytes)
            #expect(wrong.status == 400 && wrong.bodyText.contains("DIGEST_INVALID"), "\(wrong.bodyText)")
            let untyped = try await TestHTTP.request("PUT", manifests + "untyped", body: sbom.manifest.bytes)
            #expect(untyped.status == 400 && untyped.bodyText.contains("MANIFEST_INVALID"), "\(untyped.bodyText)")
        }
    }

    static func referrerDigests(_ body: Data) throws -> [String] {
        struct Index: Decodable {
            struct Entry: Decodable {
                var digest: String
                var artifactType: String?
            }
            var manifests: [Entry]
        }
        return try JSONDecoder().decode(Index.self, from: body).manifests.map(\.digest)
    }

    /// Ranges: a part (206 with `Content-Range`), past the end (416 with
    /// the length), and a HEAD with the length and no body.
    @Test func ranges() async throws {
        try await InProcessBed.run { bed in
            let layer = bed.image.single.layers[0]
            let url = bed.registry.v2URL + "team/app/blobs/" + layer.digest
            let part = try await TestHTTP.request("GET", url, headers: [("Range", "bytes=10-19")])
            #expect(part.status == 206)
            #expect(part.header("Content-Range") == "bytes 10-19/\(layer.size)")
            #expect(part.body == layer.bytes.subdata(in: 10..<20))
            let past = try await TestHTTP.request("GET", url, headers: [("Range", "bytes=\(layer.size)-")])
            #expect(past.status == 416 && past.header("Content-Range") == "bytes */\(layer.size)")
            let head = try await TestHTTP.request("HEAD", url)
            #expect(head.status == 200 && head.header("Content-Length") == String(layer.size) && head.body.isEmpty)
            #expect(head.header("Docker-Content-Digest") == layer.digest)
        }
    }

    /// Text a registry chooses — tags, platform fields, labels, error
    /// bodies — is served as it was put in, control characters and all, for
    /// tests of what the client shows of it.
    @Test func escapesServedAsTheyAre() async throws {
        let escape = "\u{1B}]0;owned\u{07}\u{1B}[2J"
        let image = ImageFixture.build(
            seed: "escapes", platforms: [TestPlatform(os: "linux" + escape, architecture: "amd64"), .linuxARM64], labels: ["title": escape])
        try await InProcessBed.run(image: image) { bed in
            bed.registry.tag("v1" + escape, digest: image.top.digest, repository: bed.repository)
            bed.registry.add(.route(.blob, method: "GET"), .respond(status: 403, headers: [("Content-Type", "text/plain")], body: "denied" + escape))
            let tags = try await TestHTTP.request("GET", bed.registry.v2URL + "team/app/tags/list")
            struct TagList: Decodable { var tags: [String] }
            #expect(try JSONDecoder().decode(TagList.self, from: tags.body).tags.contains("v1" + escape))
            let index = try await TestHTTP.request("GET", bed.registry.v2URL + "team/app/manifests/latest")
            #expect(index.bodyText.contains(#"linux\u001b]0;owned\u0007"#))
            let denied = try await TestHTTP.request("GET", bed.registry.v2URL + "team/app/blobs/" + image.single.config.digest)
            #expect(denied.status == 403 && denied.bodyText == "denied" + escape)
        }
    }

    /// Stopping ends an answer that is stalled, at once, and the client
    /// waiting on it sees its connection close.
    @Test func stopEndsAStalledAnswer() async throws {
        let registry = try await InProcessRegistry.start()
        registry.add(.everything, .stallBeforeHeaders())
        let request = Task { try await TestHTTP.request("GET", registry.v2URL, timeout: .seconds(30)) }
        while registry.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        let start = ContinuousClock.now
        await registry.stop()
        // At once, with room for a loaded machine: left alone, the stall would last an hour.
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(await thrownError { try await request.value } != nil)
    }

    /// Several registries at once, each its own store and record.
    @Test func registriesAreIndependent() async throws {
        try await InProcessBed.run { mirror in
            try await InProcessBed.run(image: .twoPlatforms) { upstream in
                #expect(mirror.registry.port != upstream.registry.port)
                let fromMirror = try await TestHTTP.request("GET", mirror.registry.v2URL + "team/app/manifests/latest")
                let fromUpstream = try await TestHTTP.request("GET", upstream.registry.v2URL + "team/app/manifests/latest")
                #expect(fromMirror.header("Docker-Content-Digest") == mirror.image.top.digest)
                #expect(fromUpstream.header("Docker-Content-Digest") == upstream.image.top.digest)
                #expect(mirror.registry.requests.count == 1 && upstream.registry.requests.count == 1)
            }
        }
    }
}
