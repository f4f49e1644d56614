import Foundation
import RegistryTestBed
import Testing

/// `hocker referrers` and the referrers count of `hocker inspect`: against
/// distribution 2.8, which has no referrers API (the `sha256-<hex>` tag
/// schema), and against the in-process registry, which has it.
@Suite("Referrers", .enabled(if: TestTools.missing(["docker-registry"]).isEmpty || TestTools.requireIntegration(), "docker-registry is not installed"))
struct ReferrersTests {
    static let signatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"
    static let sbomType = "application/spdx+json"
    static let image = ImageFixture.build(seed: "referred", layerSizes: [1024])

    /// A signature and an SBOM that refer to ``image``.
    static let artifacts = [
        ImageFixture.artifact(
            subject: image.top, artifactType: signatureType, blobs: [FixtureBlob(Data("signature".utf8), mediaType: "application/octet-stream")]),
        ImageFixture.artifact(subject: image.top, artifactType: sbomType, blobs: [FixtureBlob(Data("{}".utf8), mediaType: sbomType)]),
    ]

    struct Listing: Decodable {
        struct Referrer: Decodable {
            var digest: String
            var artifactType: String?
        }
        var subject: String
        var source: String
        var referrers: [Referrer]
    }

    struct Inspection: Decodable {
        var referrers: [String: Int]?
    }

    /// The listings and the inspection of `reference`, with skopeo's view of the tag schema alongside.
    static func check(reference: String, source: String) async throws {
        let all = try await HockerBinary.run("hocker", ["referrers", "--json", reference])
        #expect(all.status == 0, "\(all.stderrText)")
        let listing = try JSONDecoder().decode(Listing.self, from: all.stdout)
        #expect(listing.source == source)
        #expect(listing.subject == image.top.digest)
        #expect(Set(listing.referrers.map(\.digest)) == Set(artifacts.map(\.manifest.digest)))

        let filtered = try await HockerBinary.run("hocker", ["referrers", "--artifact-type", sbomType, reference])
        #expect(filtered.status == 0, "\(filtered.stderrText)")
        #expect(filtered.stdoutText == "\(artifacts[1].manifest.digest)  \(sbomType)  application/vnd.oci.image.manifest.v1+json  \(artifacts[1].manifest.size)\n")

        let none = try await HockerBinary.run("hocker", ["referrers", "--artifact-type", "application/x-none", reference])
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderrText.contains("no referrers of"), "\(none.stderrText)")

        let inspection = try await HockerBinary.run("hocker", ["inspect", "--json", reference])
        #expect(inspection.status == 0, "\(inspection.stderrText)")
        #expect(try JSONDecoder().decode(Inspection.self, from: inspection.stdout).referrers == [signatureType: 1, sbomType: 1])
        let text = try await HockerBinary.run("hocker", ["inspect", reference])
        #expect(text.stdoutText.contains("referrers   2: 1 \(sbomType), 1 \(signatureType)"), "\(text.stdoutText)")
    }

    @Test("distribution 2.8: the API answers 404, the sha256-<hex> tag lists them")
    func tagSchema() async throws {
        let registry = try await TestRegistry.start()
        defer { registry.stop() }
        try await Upload.image(Self.image, to: registry.baseURL, repository: "team/app", tag: "v1")
        for artifact in Self.artifacts { try await Upload.artifact(artifact, to: registry.baseURL, repository: "team/app") }
        let api = try await TestHTTP.request("GET", "\(registry.baseURL)/v2/team/app/referrers/\(Self.image.top.digest)")
        #expect(api.status == 404, "distribution 2.8 was expected to have no referrers API: \(api.status)")
        let reference = "\(registry.hostPort)/team/app:v1"
        let before = try await HockerBinary.run("hocker", ["referrers", reference])
        #expect(before.status == 0 && before.stdout.isEmpty, "\(before.stderrText)")

        let tag = Self.image.top.digest.replacingOccurrences(of: ":", with: "-")
        try await Upload.manifest(ImageFixture.referrersIndex(Self.artifacts.map(\.manifest)), to: registry.baseURL, repository: "team/app", reference: tag)
        try await Self.check(reference: reference, source: "tagSchema")
    }

    @Test("a registry with the API: listed and filtered by it")
    func api() async throws {
        let registry = try await InProcessRegistry.start()
        registry.push(Self.image, to: "team/app", tags: ["v1"])
        for artifact in Self.artifacts { registry.push(artifact: artifact, to: "team/app") }
        do {
            try await Self.check(reference: "\(registry.host)/team/app:v1", source: "api")
            #expect(registry.requests(.route(.referrers)).contains { $0.query.contains { $0.name == "artifactType" } })
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
