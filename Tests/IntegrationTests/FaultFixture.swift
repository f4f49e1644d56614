import Foundation
import RegistryTestBed
import Testing

/// The registries the fault tests put a ``FaultProxy`` in front of, started
/// once for the suite: an open registry, one behind htpasswd and one with
/// token auth, each holding a small three-layer image. Every test starts a
/// proxy of its own, so rules and byte counts never mix between tests.
final class FaultFixture: SuiteFixture {
    static let alice = (user: "alice", password: "alice-Fault-Pa55word")
    static let bob = TokenUser(name: "bob", password: "bob-Fault-Pa55word", pullPushPrefixes: ["private/"])

    let open: TestRegistry
    let basic: TestRegistry
    let token: TestRegistry
    /// `fault/small:v1` in the open registry: layers of ~300 kB, ~50 kB and ~2 kB.
    let small: PushedImage
    /// `private/small:v1` in the htpasswd registry.
    let basicImage: PushedImage
    /// `public/small:v1` in the token registry, pullable anonymously.
    let publicImage: PushedImage
    /// `private/small:v1` in the token registry, for bob only.
    let privateImage: PushedImage
    private let layout: TestImage

    private init(
        open: TestRegistry, basic: TestRegistry, token: TestRegistry, small: PushedImage, basicImage: PushedImage,
        publicImage: PushedImage, privateImage: PushedImage, layout: TestImage
    ) {
        self.open = open
        self.basic = basic
        self.token = token
        self.small = small
        self.basicImage = basicImage
        self.publicImage = publicImage
        self.privateImage = privateImage
        self.layout = layout
    }

    static func start() async throws -> FaultFixture {
        async let open = TestRegistry.start(auth: .open)
        async let basic = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]))
        async let token = TestRegistry.start(auth: .token(TokenPolicy(anonymousPullPrefixes: ["public/"], users: [bob])))
        async let built = TestImageBuilder().build(
            tag: "v1",
            layers: [
                TestLayerSpec(seed: "fault-base", approximateSize: 300_000),
                TestLayerSpec(seed: "fault-middle", approximateSize: 50_000),
                TestLayerSpec(seed: "fault-top", approximateSize: 2_000, fileCount: 1),
            ])
        let (openRegistry, basicRegistry, tokenRegistry, layout) = try await (open, basic, token, built)
        async let small = openRegistry.push(layout, repository: "fault/small", tag: "v1")
        async let basicImage = basicRegistry.push(layout, repository: "private/small", tag: "v1")
        async let publicImage = tokenRegistry.push(layout, repository: "public/small", tag: "v1")
        async let privateImage = tokenRegistry.push(layout, repository: "private/small", tag: "v1")
        return try await FaultFixture(
            open: openRegistry, basic: basicRegistry, token: tokenRegistry, small: small, basicImage: basicImage,
            publicImage: publicImage, privateImage: privateImage, layout: layout)
    }

    func stop() {
        for registry in [open, basic, token] { registry.stop() }
        layout.remove()
    }

    /// The small image's largest layer (~300 kB).
    var bigLayer: TestLayer { small.single.layers[0] }

    @TaskLocal static var current: FaultFixture?
    static var scope: TaskLocal<FaultFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<FaultFixture> {
    /// Real registries with a small image each, for fault injection.
    static var faultRegistries: Self { Self() }
}

/// Runs `body` with a fresh proxy in front of `registry`, stopped afterwards.
func withFaultProxy<Result>(
    in registry: TestRegistry, _ body: (FaultProxy) async throws -> Result
) async throws -> Result {
    let proxy = try await FaultProxy.start(upstream: registry)
    defer { proxy.stop() }
    return try await body(proxy)
}
