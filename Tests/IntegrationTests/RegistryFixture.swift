import Foundation
import RegistryTestBed
import Testing

/// The registries and images the fetch tests run against, started once per
/// suite: an open registry, one behind htpasswd basic auth, and one with
/// token auth, each holding images pushed with skopeo.
final class RegistryFixture: SuiteFixture {
    static let alice = (user: "alice", password: "alice-Pa55word")
    static let bob = TokenUser(name: "bob", password: "bob-Pa55word", pullPushPrefixes: ["private/"])
    /// The identity token `docker login` would have stored for bob.
    static let bobIdentityToken = "bob-identity-Refresh-t0ken"

    let open: TestRegistry
    let basic: TestRegistry
    let token: TestRegistry
    /// Single-platform, OCI media types, three layers.
    let single: PushedImage
    /// The same layers pushed as Docker schema 2.
    let docker: PushedImage
    /// amd64 + arm64/v8 behind an OCI index.
    let multi: PushedImage
    /// The same behind a Docker manifest list.
    let multiDocker: PushedImage
    /// A single arm64/v8 manifest, no index: its platform is only in its config.
    let arm64: PushedImage
    /// In the htpasswd registry.
    let basicImage: PushedImage
    /// In the token registry: pullable by anyone.
    let publicImage: PushedImage
    /// In the token registry: pullable by bob only.
    let privateImage: PushedImage
    private let images: [TestImage]

    private init(
        open: TestRegistry, basic: TestRegistry, token: TestRegistry, single: PushedImage, docker: PushedImage, multi: PushedImage,
        multiDocker: PushedImage, arm64: PushedImage, basicImage: PushedImage, publicImage: PushedImage, privateImage: PushedImage,
        images: [TestImage]
    ) {
        self.open = open
        self.basic = basic
        self.token = token
        self.single = single
        self.docker = docker
        self.multi = multi
        self.multiDocker = multiDocker
        self.arm64 = arm64
        self.basicImage = basicImage
        self.publicImage = publicImage
        self.privateImage = privateImage
        self.images = images
    }

    static func start() async throws -> RegistryFixture {
        async let open = TestRegistry.start(auth: .open)
        async let basic = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]))
        var tokenPolicy = TokenPolicy(anonymousPullPrefixes: ["public/"], users: [bob])
        tokenPolicy.refreshTokens = [bobIdentityToken: bob.name]
        async let token = TestRegistry.start(auth: .token(tokenPolicy))
        let builder = TestImageBuilder()
        async let singleImage = builder.build(
            tag: "v1",
            layers: [
                TestLayerSpec(seed: "base", approximateSize: 300_000),
                TestLayerSpec(seed: "middle", approximateSize: 50_000),
                TestLayerSpec(seed: "top", approximateSize: 2_000, fileCount: 1),
            ])
        async let multiImage = builder.build(
            tag: "v1", platforms: [.linuxAMD64, .linuxARM64],
            layers: [TestLayerSpec(seed: "multi-base", approximateSize: 100_000), TestLayerSpec(seed: "multi-app", approximateSize: 10_000)])
        async let arm64Image = builder.build(tag: "v1", platforms: [.linuxARM64], layers: [TestLayerSpec(seed: "arm64-only", approximateSize: 20_000)])
        let (openRegistry, basicRegistry, tokenRegistry) = try await (open, basic, token)
        let (single, multi, arm64Only) = try await (singleImage, multiImage, arm64Image)
        async let pushedSingle = openRegistry.push(single, repository: "test/single", tag: "v1")
        async let pushedDocker = openRegistry.push(single, repository: "test/docker", tag: "v1", format: .dockerSchema2)
        async let pushedMulti = openRegistry.push(multi, repository: "test/multi", tag: "v1")
        async let pushedMultiDocker = openRegistry.push(multi, repository: "test/multidocker", tag: "v1", format: .dockerSchema2)
        async let pushedArm64 = openRegistry.push(arm64Only, repository: "test/arm64", tag: "v1")
        async let pushedBasic = basicRegistry.push(single, repository: "private/app", tag: "v1")
        async let pushedPublic = tokenRegistry.push(single, repository: "public/app", tag: "v1")
        async let pushedPrivate = tokenRegistry.push(multi, repository: "private/app", tag: "v1")
        return try await RegistryFixture(
            open: openRegistry, basic: basicRegistry, token: tokenRegistry, single: pushedSingle, docker: pushedDocker, multi: pushedMulti,
            multiDocker: pushedMultiDocker, arm64: pushedArm64, basicImage: pushedBasic, publicImage: pushedPublic, privateImage: pushedPrivate,
            images: [single, multi, arm64Only])
    }

    func stop() {
        for registry in [open, basic, token] { registry.stop() }
        for image in images { image.remove() }
    }

    @TaskLocal static var current: RegistryFixture?
    static var scope: TaskLocal<RegistryFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<RegistryFixture> {
    /// Real registries with pushed images, shared by the suite's tests.
    static var registries: Self { Self() }
}

/// The suites that share one set of registries (started once for all of them).
@Suite("Registries", .registries, .enabled(if: Integration.enabled, Integration.skipReason))
struct RegistrySuites {}
