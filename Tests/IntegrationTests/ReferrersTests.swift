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

    /// Runs hocker and prints the command, its exit status and what it
    /// wrote: what a person sees (`shown SOURCE:` lines).
    @discardableResult
    static func show(_ arguments: [String], source: String) async throws -> ProcessResult {
        let result = try await HockerBinary.run("hocker", arguments)
        print("shown \(source): $ hocker \(arguments.joined(separator: " "))   [exit \(result.status)]")
        for line in (result.stdoutText + result.stderrText).split(separator: "\n") { print("shown \(source): \(line)") }
        return result
    }

    /// The listings and the inspection of `reference`, shown as a person sees them.
    static func check(reference: String, source: String) async throws {
        try await show(["referrers", reference], source: source)
        let all = try await show(["referrers", "--json", reference], source: source)
        #expect(all.status == 0, "\(all.stderrText)")
        let listing = try JSONDecoder().decode(Listing.self, from: all.stdout)
        #expect(listing.source == source)
        #expect(listing.subject == image.top.digest)
        #expect(Set(listing.referrers.map(\.digest)) == Set(artifacts.map(\.manifest.digest)))

        let filtered = try await show(["referrers", "--artifact-type", sbomType, reference], source: source)
        #expect(filtered.status == 0, "\(filtered.stderrText)")
        #expect(filtered.stdoutText == "\(artifacts[1].manifest.digest)  \(sbomType)  application/vnd.oci.image.manifest.v1+json  \(artifacts[1].manifest.size)\n")

        let none = try await show(["referrers", "--artifact-type", "application/x-none", reference], source: source)
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderrText.contains("no referrers of"), "\(none.stderrText)")

        let inspection = try await HockerBinary.run("hocker", ["inspect", "--json", reference])
        #expect(inspection.status == 0, "\(inspection.stderrText)")
        #expect(try JSONDecoder().decode(Inspection.self, from: inspection.stdout).referrers == [signatureType: 1, sbomType: 1])
        let text = try await show(["inspect", reference], source: source)
        #expect(text.stdoutText.contains("referrers   2: 1 \(sbomType), 1 \(signatureType)"), "\(text.stdoutText)")
    }

    @Test("distribution 2.8: the API answers 404, the sha256-<hex> tag lists them")
    func tagSchema() async throws {
        let registry = try await TestRegistry.start()
        defer { registry.stop() }
        try await Upload.image(Self.image, to: registry.baseURL, repository: "team/app", tag: "v1")
        for artifact in Self.artifacts {
            // No OCI-Subject: the registry does not list it, the pusher keeps the sha256-<hex> tag.
            let put = try await Upload.artifact(artifact, to: registry.baseURL, repository: "team/app")
            print("shown tagSchema: PUT /v2/team/app/manifests/\(artifact.manifest.digest) -> \(put.status), OCI-Subject: \(put.header("OCI-Subject") ?? "(none)")")
            #expect(put.header("OCI-Subject") == nil)
        }
        let api = try await TestHTTP.request("GET", "\(registry.baseURL)/v2/team/app/referrers/\(Self.image.top.digest)")
        #expect(api.status == 404, "distribution 2.8 was expected to have no referrers API: \(api.status)")
        print("shown tagSchema: GET /v2/team/app/referrers/\(Self.image.top.digest) -> \(api.status)")
        let reference = "\(registry.hostPort)/team/app:v1"
        let before = try await Self.show(["referrers", reference], source: "tagSchema")
        #expect(before.status == 0 && before.stdout.isEmpty, "\(before.stderrText)")

        let tag = Self.image.top.digest.replacingOccurrences(of: ":", with: "-")
        print("shown tagSchema: PUT /v2/team/app/manifests/\(tag) (the index of both)")
        try await Upload.manifest(ImageFixture.referrersIndex(Self.artifacts.map(\.manifest)), to: registry.baseURL, repository: "team/app", reference: tag)
        try await Self.check(reference: reference, source: "tagSchema")
    }

    @Test("a registry with the API: pushes answered with OCI-Subject, listed and filtered by it")
    func api() async throws {
        let registry = try await InProcessRegistry.start()
        registry.push(Self.image, to: "team/app", tags: ["v1"])
        do {
            // Pushed as a client pushes an artifact: its blobs, then a PUT of the manifest by digest.
            for artifact in Self.artifacts {
                for blob in artifact.blobs { registry.putBlob(blob) }
                let put = try await TestHTTP.request(
                    "PUT", "\(registry.baseURL)/v2/team/app/manifests/\(artifact.manifest.digest)",
                    headers: [("Content-Type", artifact.manifest.mediaType)], body: artifact.manifest.bytes)
                print("shown api: PUT /v2/team/app/manifests/\(artifact.manifest.digest) -> \(put.status), OCI-Subject: \(put.header("OCI-Subject") ?? "(none)")")
                #expect(put.status == 201, "\(put.bodyText)")
                #expect(put.header("OCI-Subject") == Self.image.top.digest)
            }
            try await Self.check(reference: "\(registry.host)/team/app:v1", source: "api")
            #expect(registry.requests(.route(.referrers)).contains { $0.query.contains { $0.name == "artifactType" } })
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
