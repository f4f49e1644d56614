import ImagePull
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

/// Manifests, configs, blobs, pins, inspections, digests and tags through a
/// pull session, from the in-process registry.
@Suite("Pull session: look-ups", .timeLimit(.minutes(1)))
struct SessionLookupTests {
    /// What `session.manifest` is asked, and the document it must give, byte for byte.
    @Test(arguments: [
        ("index itself", PlatformChoice.host, true, "index"),
        ("one platform of the index", .exactly(.arm64), false, "arm64"),
        ("this machine's platform", .host, false, "amd64"),
    ])
    func manifestAsServed(_ label: String, platform: PlatformChoice, index: Bool, expected: String) async throws {
        let image = ImageFixture.sessionTwoPlatforms
        try await SessionBed.run(image: image) { bed in
            let target = try bed.target()
            let bytes = try await bed.session { session in try await session.manifest(target, platform: platform, index: index) }
            let document = switch expected {
            case "index": image.index
            case "arm64": image.manifest(for: .linuxARM64)?.manifest
            default: image.manifest(for: .linuxAMD64)?.manifest
            }
            #expect(bytes == document?.bytes, "\(label)")
        }
    }

    /// A single image's manifest, whatever is asked: there is nothing to pick.
    @Test(arguments: [PlatformChoice.host, .any, .all])
    func singleManifest(_ platform: PlatformChoice) async throws {
        try await SessionBed.run { bed in
            let target = try bed.target()
            let bytes = try await bed.session { session in try await session.manifest(target, platform: platform) }
            #expect(bytes == ImageFixture.sessionSmall.single.manifest.bytes)
        }
    }

    /// The config of the platform asked, written to a file, verified.
    @Test(arguments: [(PlatformChoice.host, TestPlatform.linuxAMD64), (.exactly(.arm64), .linuxARM64)])
    func configWritten(_ platform: PlatformChoice, expected: TestPlatform) async throws {
        let image = ImageFixture.sessionTwoPlatforms
        try await SessionBed.run(image: image) { bed in
            let target = try bed.target()
            let out = bed.path("config.json")
            try await bed.session { session in try await session.config(target, platform: platform, to: out) }
            #expect(contents(out) == image.manifest(for: expected)?.config.bytes)
        }
    }

    /// A blob of the repository, by digest, written to a file; the tag is
    /// not resolved (no manifest is asked for).
    @Test(arguments: [0, 1])
    func blobWritten(_ layer: Int) async throws {
        try await SessionBed.run { bed in
            let blob = ImageFixture.sessionSmall.single.layers[layer]
            let target = try bed.target()
            let out = bed.path("layer")
            try await bed.session { session in
                try await session.blob(try Digest(parsing: blob.digest), of: target, to: out)
            }
            #expect(contents(out) == blob.bytes)
            #expect(bed.registry.requests(.route(.manifest)).isEmpty)
        }
    }

    /// A blob the registry does not hold: the error names it, and no file is left.
    @Test func missingBlobNamed() async throws {
        try await SessionBed.run { bed in
            let missing = try Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))
            let out = bed.path("layer")
            let target = try bed.target()
            let error = await thrownError { try await bed.session { session in try await session.blob(missing, of: target, to: out) } }
            #expect((error as? any UserFacingError)?.message.contains(missing.description) == true, "\(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// A pin of an index: its digest, each platform's manifest, config and
    /// layers; of one platform: that manifest, the index recorded.
    @Test(arguments: [(PlatformChoice.all, [TestPlatform.linuxAMD64, .linuxARM64]), (.exactly(.arm64), [.linuxARM64])])
    func pinOfIndex(_ platforms: PlatformChoice, expected: [TestPlatform]) async throws {
        let image = ImageFixture.sessionTwoPlatforms
        try await SessionBed.run(image: image) { bed in
            let target = try bed.target()
            let pin = try await bed.session { session in try await session.pin(target, platforms: platforms, name: "app") }
            #expect(pin.name == "app")
            #expect(pin.repository == "team/app")
            #expect(pin.tag == "latest")
            // The registry as the client reached it: a bare loopback host that speaks plain http.
            #expect(pin.registry == "http://\(bed.registry.host)/v2/")
            #expect(pin.indexDigest?.description == image.index?.digest)
            let manifests = expected.compactMap(image.manifest(for:))
            #expect(pin.images.map(\.manifestDigest.description) == manifests.map(\.manifest.digest))
            #expect(pin.images.map(\.platform) == expected.map(\.description))
            #expect(pin.images.map(\.config.digest.description) == manifests.map(\.config.digest))
            #expect(pin.images.map { $0.layers.map(\.digest.description) } == manifests.map { $0.layers.map(\.digest) })
            // Manifests and configs only: never a layer.
            #expect(bed.registry.requests(.blobGETs).allSatisfy { request in manifests.contains { request.path.hasSuffix($0.config.digest) } })
        }
    }

    /// A pin of a single image: its manifest digest, the platform its config names.
    @Test func pinOfSingleImage() async throws {
        try await SessionBed.run { bed in
            let target = try bed.target()
            let image = ImageFixture.sessionSmall.single
            let pin = try await bed.session { session in try await session.pin(target, platforms: .host, name: "app") }
            #expect(pin.digest?.description == image.manifest.digest)
            #expect(pin.indexDigest == nil)
            #expect(pin.images.map(\.platform) == ["linux/amd64"])
            #expect(pin.images.first?.layers.map(\.size) == image.layers.map { Int64($0.size) })
        }
    }

    /// An inspection of every platform: the reference as the target names
    /// it, the index's digest, each image's manifest, config, layers and labels.
    @Test func inspectIndex() async throws {
        let image = ImageFixture.build(
            seed: "inspect", platforms: [.linuxAMD64, .linuxARM64], layerSizes: [300, 400], labels: ["org.opencontainers.image.title": "app"])
        try await SessionBed.run(image: image) { bed in
            let target = try bed.target()
            let inspection = try await bed.session { session in try await session.inspect(target, platforms: .all) }
            #expect(inspection.reference == "\(bed.registry.host)/team/app:latest")
            #expect(inspection.digest.description == image.index?.digest)
            #expect(inspection.images.map(\.platform) == ["linux/amd64", "linux/arm64/v8"])
            #expect(inspection.images.map(\.manifestDigest.description) == image.manifests.map(\.manifest.digest))
            #expect(inspection.images.map(\.configDigest.description) == image.manifests.map(\.config.digest))
            #expect(inspection.images.allSatisfy { $0.layers == 2 && $0.labels == ["org.opencontainers.image.title": "app"] })
        }
    }

    /// The digest a tag names, from one `HEAD`; with a platform, that
    /// platform's manifest digest, read from the index.
    @Test(arguments: [(nil, "index"), (Platform.arm64, "arm64")] as [(Platform?, String)])
    func digestOfTag(_ platform: Platform?, expected: String) async throws {
        let image = ImageFixture.sessionTwoPlatforms
        try await SessionBed.run(image: image) { bed in
            let target = try bed.target()
            let digest = try await bed.session { session in try await session.digest(target, platform: platform) }
            let wanted = expected == "index" ? image.index?.digest : image.manifest(for: .linuxARM64)?.manifest.digest
            #expect(digest.description == wanted)
            if platform == nil {
                #expect(bed.registry.requests(.route(.manifest)).map(\.method) == ["HEAD"])
            }
        }
    }

    /// Every tag of the repository, across pages of any size, in order.
    @Test(arguments: [nil, 1, 2, 7] as [Int?])
    func tagsAcrossPages(_ pageSize: Int?) async throws {
        try await SessionBed.run { bed in
            let names = ["1.0", "1.1", "2.0", "latest", "stable", "v3"]
            for name in names { bed.registry.tag(name, digest: ImageFixture.sessionSmall.top.digest, repository: "team/app") }
            let target = try bed.target()
            let tags = try await bed.session { session in try await session.tags(target, pageSize: pageSize) }
            #expect(tags == names.sorted())
            let pages = bed.registry.requests(.tagLists).filter { $0.status == 200 }
            #expect(pages.count == (pageSize.map { (names.count + $0 - 1) / $0 } ?? 1))
        }
    }
}
