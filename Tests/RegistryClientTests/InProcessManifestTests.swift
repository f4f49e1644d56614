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

/// Manifests, indexes, digests and tag lists against the in-process registry.
@Suite("In-process registry: manifests and tags", .timeLimit(.minutes(1)))
struct InProcessManifestTests {
    /// An index resolved to one platform's manifest, or to every platform's,
    /// in OCI and Docker media types.
    @Test(arguments: [FixtureFormat.oci, .docker])
    func resolveFromIndex(_ format: FixtureFormat) async throws {
        let image = ImageFixture.build(seed: "resolve", platforms: [.linuxAMD64, .linuxARM64], layerSizes: [512], format: format)
        try await InProcessBed.run(image: image) { bed in
            let arm = try Platform(parsing: "linux/arm64/v8")
            let (one, all) = try await bed.withClient { client in
                (try await client.resolveImage(try bed.reference(), platform: .exactly(arm)),
                 try await client.resolveImages(try bed.reference(), platforms: .all))
            }
            #expect(one.document.digest.description == image.manifest(for: .linuxARM64)?.manifest.digest)
            #expect(one.index?.digest.description == image.index?.digest)
            #expect(one.platform == arm)
            #expect(all.images.map(\.document.digest.description) == image.manifests.map(\.manifest.digest))
        }
    }

    /// A platform the index lacks: the error names the ones it has.
    @Test func missingPlatformNamed() async throws {
        try await InProcessBed.run(image: .twoPlatforms) { bed in
            let wanted = try Platform(parsing: "linux/s390x")
            let error = await thrownError { try await bed.withClient { try await $0.resolveImage(try bed.reference(), platform: .exactly(wanted)) } }
            let message = (error as? any UserFacingError)?.message ?? ""
            #expect(message.contains("linux/s390x") && message.contains("linux/arm64/v8"))
        }
    }

    /// The digest a tag names, from one HEAD; a registry that sends none on
    /// HEAD is asked with a GET, and the bytes hashed.
    @Test(arguments: [true, false])
    func digestFromHead(_ headerSent: Bool) async throws {
        try await InProcessBed.run { bed in
            if !headerSent { bed.registry.add(.manifestHEADs, .digestHeader(nil)) }
            let head = try await bed.withClient { client in try await client.manifestDigest(try bed.reference()) }
            #expect(head.digest.description == bed.image.top.digest)
            #expect(head.fetched == !headerSent)
            #expect(head.mediaType == bed.image.top.mediaType)
            #expect(bed.registry.requests(.manifestGETs).count == (headerSent ? 0 : 1))
        }
    }

    /// A wrong `Docker-Content-Digest`: for a tag, the bytes' own digest is
    /// used; for a pinned digest, a HEAD that names another is refused.
    @Test func wrongDigestHeader() async throws {
        try await InProcessBed.run { bed in
            let wrong = "sha256:" + String(repeating: "e", count: 64)
            bed.registry.add(.route(.manifest), .digestHeader(wrong))
            let pinned = try bed.reference(digest: bed.image.top.digest)
            let (document, headError) = try await bed.withClient { client in
                (try await client.fetchManifest(try bed.reference()), await thrownError { try await client.manifestDigest(pinned) })
            }
            #expect(document.digest.description == bed.image.top.digest)
            guard case .digestMismatch? = headError as? RegistryError else {
                Issue.record("expected digestMismatch, got \(String(describing: headError))")
                return
            }
        }
    }

    /// A manifest fetched by digest whose bytes are not that digest's: refused.
    @Test func corruptManifestByDigestRefused() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .corruptByte(at: 10))
            let error = await thrownError {
                try await bed.withClient { client in try await client.fetchManifest(try bed.reference(digest: bed.image.top.digest)) }
            }
            guard case .digestMismatch? = error as? RegistryError else {
                Issue.record("expected digestMismatch, got \(String(describing: error))")
                return
            }
        }
    }

    /// A tag list in pages: `n` asked for, or the registry's own page size,
    /// each `Link` followed until none is left; every tag once, in order.
    @Test(arguments: [(2 as Int?, nil as Int?, 4), (nil, 3, 3), (10, nil, 1), (nil, nil, 1), (1, 5, 7)])
    func tagPages(pageSize: Int?, registryPageSize: Int?, pages: Int) async throws {
        try await InProcessBed.run { bed in
            let tags = ["1.0", "1.1", "2.0", "2.1", "edge", "stable"]
            for tag in tags { bed.registry.tag(tag, digest: bed.image.top.digest, repository: bed.repository) }
            bed.registry.setTagPageSize(registryPageSize)
            let listed = try await bed.withClient { client in try await client.tags(of: bed.repository, pageSize: pageSize) }
            #expect(listed == (tags + ["latest"]).sorted())
            let requests = bed.registry.requests(.tagLists)
            #expect(requests.count == pages)
            #expect(requests.dropFirst().allSatisfy { $0.query.contains { $0.name == "last" } })
        }
    }

    /// An unknown repository's tag list: NAME_UNKNOWN, said as such.
    @Test func unknownRepositoryTags() async throws {
        try await InProcessBed.run { bed in
            let error = await thrownError { try await bed.withClient { try await $0.tags(of: "no/such") } }
            guard case .repositoryUnknown(let repository, _)? = error as? RegistryError else {
                Issue.record("expected repositoryUnknown, got \(String(describing: error))")
                return
            }
            #expect(repository == "no/such")
        }
    }
}
