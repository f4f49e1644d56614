import Foundation
import RegistryTestBed
import Testing

/// A registry holding images as registries really serve them, pushed
/// unchanged: regclient's test repository (`Tests/Fixtures/regclient-testrepo`:
/// multi-platform indexes, attestations, OCI 1.1 artifacts with
/// `artifactType` and `subject`, an index of artifacts, a subject loop,
/// the referrers tag schema) as `regclient/testrepo:TAG`, and what the
/// suite builds the same way as `handmade/x:TAG`: indexes whose entries
/// name no platform (one, two), an empty index, a config without `rootfs`;
/// and `handmade/broken:v1`, an index whose arm64 config the registry
/// does not hold.
final class ArtifactFixture: SuiteFixture {
    static let testRepository = "regclient/testrepo"
    static let handmadeRepository = "handmade/x"
    static let brokenRepository = "handmade/broken"

    /// The fixture layout in the source tree.
    static let testRepositoryLayout = OCILayoutDirectory(
        path: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/regclient-testrepo").path)

    /// The tags of the regclient layout, in its order.
    static let testRepositoryTags: [String] = ((try? testRepositoryLayout.tagged()) ?? []).map(\.tag)

    /// The tags the suite builds.
    static let handmadeTags = ["platformless", "platformless-two", "empty", "norootfs"]

    let registry: TestRegistry
    /// The layouts pushed (copies), by repository.
    let layouts: [String: OCILayoutDirectory]
    /// What skopeo could not push unchanged and was pushed with a PUT, with skopeo's error.
    let putInstead: [(tag: String, skopeo: String)]
    /// `handmade/broken:v1`: the arm64 config that was deleted.
    let missingConfig: String
    private let images: [TestImage]

    private init(
        registry: TestRegistry, layouts: [String: OCILayoutDirectory], putInstead: [(tag: String, skopeo: String)], missingConfig: String,
        images: [TestImage]
    ) {
        self.registry = registry
        self.layouts = layouts
        self.putInstead = putInstead
        self.missingConfig = missingConfig
        self.images = images
    }

    static func start() async throws -> ArtifactFixture {
        let registry = try await TestRegistry.start(auth: .open)
        do {
            let regclient = try testRepositoryLayout.copy()
            let put = try await registry.pushUnchanged(regclient, repository: testRepository)
            let multi = try await TestImageBuilder().build(
                tag: "multi", platforms: [.linuxAMD64, .linuxARM64],
                layers: [TestLayerSpec(seed: "artifact-base", approximateSize: 20_000), TestLayerSpec(seed: "artifact-top", approximateSize: 2_000, fileCount: 1)])
            let handmade = OCILayoutDirectory(path: multi.layoutPath)
            try addHandmade(to: handmade, from: multi)
            try await registry.pushUnchanged(handmade, repository: handmadeRepository)
            // An index whose arm64 config is gone: pushed whole, then that blob deleted from the repository.
            try await Skopeo.copy(multi.ociReference, "docker://\(registry.hostPort)/\(brokenRepository):v1", extraArguments: ["--preserve-digests", "--all"])
            let missing = try #require(multi.manifest(for: .linuxARM64)).configDigest
            let deleted = try await TestHTTP.request("DELETE", "\(registry.baseURL)/v2/\(brokenRepository)/blobs/\(missing)")
            try #require(deleted.status == 202, "DELETE of \(missing) answered \(deleted.status): \(deleted.bodyText)")
            return ArtifactFixture(
                registry: registry, layouts: [testRepository: regclient, handmadeRepository: handmade], putInstead: put, missingConfig: missing,
                images: [multi])
        } catch {
            registry.stop()
            throw error
        }
    }

    /// Writes the handmade documents into the layout of `multi` (amd64 + arm64).
    private static func addHandmade(to layout: OCILayoutDirectory, from multi: TestImage) throws {
        let index = "application/vnd.oci.image.index.v1+json"
        let manifest = "application/vnd.oci.image.manifest.v1+json"
        func entry(_ image: TestManifest) -> String {
            #"{"mediaType":"\#(manifest)","digest":"\#(image.manifestDigest)","size":\#(image.manifestSize)}"#
        }
        let amd64 = try #require(multi.manifest(for: .linuxAMD64))
        let arm64 = try #require(multi.manifest(for: .linuxARM64))
        try layout.addManifest(#"{"schemaVersion":2,"mediaType":"\#(index)","manifests":[\#(entry(amd64))]}"#, mediaType: index, tag: "platformless")
        try layout.addManifest(
            #"{"schemaVersion":2,"mediaType":"\#(index)","manifests":[\#(entry(amd64)),\#(entry(arm64))]}"#, mediaType: index, tag: "platformless-two")
        try layout.addManifest(#"{"schemaVersion":2,"mediaType":"\#(index)","manifests":[]}"#, mediaType: index, tag: "empty")
        let config = Data(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let configDigest = try layout.addBlob(config)
        let layers = amd64.layers.map { #"{"mediaType":"\#($0.mediaType)","digest":"\#($0.digest)","size":\#($0.size)}"# }
        try layout.addManifest(
            #"{"schemaVersion":2,"mediaType":"\#(manifest)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[\#(layers.joined(separator: ","))]}"#,
            mediaType: manifest, tag: "norootfs")
    }

    func stop() {
        registry.stop()
        for image in images { image.remove() }
        if let regclient = layouts[Self.testRepository] { Scratch.remove(regclient.path) }
    }

    @TaskLocal static var current: ArtifactFixture?
    static var scope: TaskLocal<ArtifactFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<ArtifactFixture> {
    /// A registry with regclient's test repository and the suite's own odd indexes.
    static var artifactRegistry: Self { Self() }
}
