import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// OCI 1.1 referrers: the API, its filter, its pages, and the tag schema of
/// registries without it.
@Suite("In-process registry: referrers", .timeLimit(.minutes(1)))
struct InProcessReferrersTests {
    static let signatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"
    static let sbomType = "application/spdx+json"

    /// Two artifacts that refer to the bed's image (a signature, an SBOM) and one that refers to another digest.
    static func artifacts(_ bed: InProcessBed) -> [(manifest: FixtureBlob, blobs: [FixtureBlob])] {
        let other = FixtureBlob(Data("other".utf8), mediaType: MediaType.ociManifest)
        return [
            ImageFixture.artifact(
                subject: bed.image.top, artifactType: signatureType, blobs: [FixtureBlob(Data("sig".utf8), mediaType: "application/octet-stream")],
                annotations: ["note": "signature"]),
            ImageFixture.artifact(subject: bed.image.top, artifactType: sbomType, blobs: [FixtureBlob(Data("sbom".utf8), mediaType: sbomType)]),
            ImageFixture.artifact(subject: other, artifactType: signatureType, blobs: []),
        ]
    }

    static func subject(_ bed: InProcessBed) throws -> Digest { try Digest(parsing: bed.image.top.digest) }

    @Test("the API lists what refers to the digest, with types and annotations; a filter the registry applies is not applied again")
    func api() async throws {
        try await InProcessBed.run { bed in
            let artifacts = Self.artifacts(bed)
            for artifact in artifacts { bed.registry.push(artifact: artifact, to: bed.repository) }
            let (all, signatures) = try await bed.withClient { client in
                (try await client.referrers(of: try Self.subject(bed), in: try bed.reference()),
                 try await client.referrers(of: try Self.subject(bed), in: try bed.reference(), artifactType: Self.signatureType))
            }
            #expect(all.source == .api)
            #expect(Set(all.referrers.map(\.digest.description)) == Set(artifacts.prefix(2).map(\.manifest.digest)))
            #expect(all.countsByArtifactType == [Self.signatureType: 1, Self.sbomType: 1])
            #expect(signatures.referrers.map(\.digest.description) == [artifacts[0].manifest.digest])
            #expect(signatures.referrers.first?.annotations == ["note": "signature"])
            let filtered = bed.registry.requests(.route(.referrers)).last
            #expect(filtered?.query.first { $0.name == "artifactType" }?.value == Self.signatureType)
            #expect(filtered?.uri.contains("%2Bjson") == true, "a + in the query reads as a space: \(filtered?.uri ?? "")")
        }
    }

    @Test("a registry that ignores the filter (no OCI-Filters-Applied) is filtered here")
    func filterIgnored() async throws {
        try await InProcessBed.run { bed in
            let artifacts = Self.artifacts(bed)
            let unfiltered = ImageFixture.referrersIndex(artifacts.prefix(2).map(\.manifest))
            bed.registry.add(.route(.referrers), .respond(status: 200, headers: [("Content-Type", MediaType.ociIndex)], body: String(decoding: unfiltered.bytes, as: UTF8.self)))
            let list = try await bed.withClient { client in
                try await client.referrers(of: try Self.subject(bed), in: try bed.reference(), artifactType: Self.sbomType)
            }
            #expect(list.referrers.map(\.digest.description) == [artifacts[1].manifest.digest])
        }
    }

    @Test("a registry without the API (404): the sha256-<hex> tag's index, filtered here; no tag, no referrers", arguments: [true, false])
    func tagSchema(_ tagged: Bool) async throws {
        try await InProcessBed.run { bed in
            let artifacts = Self.artifacts(bed)
            bed.registry.add(.route(.referrers), .respond(status: 404, body: "404 page not found"))
            let index = ImageFixture.referrersIndex(artifacts.prefix(2).map(\.manifest))
            let tag = bed.image.top.digest.replacingOccurrences(of: ":", with: "-")
            if tagged { bed.registry.putManifest(index, repository: bed.repository, tag: tag) }
            let (all, sboms) = try await bed.withClient { client in
                (try await client.referrers(of: try Self.subject(bed), in: try bed.reference()),
                 try await client.referrers(of: try Self.subject(bed), in: try bed.reference(), artifactType: Self.sbomType))
            }
            #expect(all.source == .tagSchema)
            #expect(all.referrers.count == (tagged ? 2 : 0))
            #expect(sboms.referrers.map(\.digest.description) == (tagged ? [artifacts[1].manifest.digest] : []))
            // Absence is an answer: no tag-list probe of the repository.
            #expect(bed.registry.requests(.tagLists).isEmpty)
        }
    }

    @Test("pages are followed on the registry's origin; a page on another origin is refused")
    func pages() async throws {
        try await InProcessBed.run { bed in
            let artifacts = Self.artifacts(bed)
            let first = ImageFixture.referrersIndex([artifacts[0].manifest])
            let second = ImageFixture.referrersIndex([artifacts[1].manifest])
            let path = "/v2/\(bed.repository)/referrers/\(bed.image.top.digest)"
            bed.registry.add(
                RequestMatch { $0.route == .referrers && $0.uri.contains("page=2") },
                .respond(status: 200, headers: [("Content-Type", MediaType.ociIndex)], body: String(decoding: second.bytes, as: UTF8.self)))
            bed.registry.add(
                .route(.referrers),
                .respond(status: 200, headers: [("Content-Type", MediaType.ociIndex), ("Link", "<\(path)?page=2>; rel=\"next\"")],
                         body: String(decoding: first.bytes, as: UTF8.self)), times: 1)
            let list = try await bed.withClient { client in try await client.referrers(of: try Self.subject(bed), in: try bed.reference()) }
            #expect(list.referrers.map(\.digest.description) == [artifacts[0].manifest.digest, artifacts[1].manifest.digest])

            bed.registry.removeAllRules()
            bed.registry.add(
                .route(.referrers),
                .respond(status: 200, headers: [("Content-Type", MediaType.ociIndex), ("Link", "<\(bed.registry.otherBaseURL)\(path)?page=2>; rel=\"next\"")],
                         body: String(decoding: first.bytes, as: UTF8.self)))
            let error = await thrownError { try await bed.withClient { client in try await client.referrers(of: try Self.subject(bed), in: try bed.reference()) } }
            guard case .refusedURL(_, .nextPage, _)? = error as? RegistryError else {
                Issue.record("expected the other origin's page to be refused, got \(String(describing: error))")
                return
            }
        }
    }
}
