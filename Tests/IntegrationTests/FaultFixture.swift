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
    static let acrUsername = "00000000-0000-0000-0000-000000000000"
    static let acrIdentityToken = "acr-Identity-Refresh-Token-5ecret"

    static var quirkyPolicy: TokenPolicy {
        var policy = TokenPolicy(anonymousPullPrefixes: ["public/"], users: [bob])
        policy.refreshTokens = [acrIdentityToken: bob.name]
        policy.answer = TokenAnswer(fields: .accessTokenOnly, expiresIn: .seconds(1), issuedAt: .ahead(seconds: 3600))
        policy.refusesPOST = 405
        policy.identityTokenUsername = acrUsername
        return policy
    }

    let open: TestRegistry
    let basic: TestRegistry
    let token: TestRegistry
    /// A token registry whose token service has the documented quirks of
    /// several at once: only `access_token`, `expires_in: 1`, `issued_at` an
    /// hour ahead, POST refused with 405 (GET only), and ACR's identity-token
    /// user name; bob's identity token is ``acrIdentityToken``.
    let quirkyToken: TestRegistry
    /// `public/small:v1` in the quirky token registry.
    let quirkyPublic: PushedImage
    /// `private/small:v1` in the quirky token registry, for bob only.
    let quirkyPrivate: PushedImage
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
        open: TestRegistry, basic: TestRegistry, token: TestRegistry, quirkyToken: TestRegistry, small: PushedImage, basicImage: PushedImage,
        publicImage: PushedImage, privateImage: PushedImage, quirkyPublic: PushedImage, quirkyPrivate: PushedImage, layout: TestImage
    ) {
        self.open = open
        self.basic = basic
        self.token = token
        self.quirkyToken = quirkyToken
        self.quirkyPublic = quirkyPublic
        self.quirkyPrivate = quirkyPrivate
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
        async let quirky = TestRegistry.start(auth: .token(quirkyPolicy))
        async let built = TestImageBuilder().build(
            tag: "v1",
            layers: [
                TestLayerSpec(seed: "fault-base", approximateSize: 300_000),
                TestLayerSpec(seed: "fault-middle", approximateSize: 50_000),
                TestLayerSpec(seed: "fault-top", approximateSize: 2_000, fileCount: 1),
            ])
        let (openRegistry, basicRegistry, tokenRegistry, quirkyRegistry, layout) = try await (open, basic, token, quirky, built)
        async let small = openRegistry.push(layout, repository: "fault/small", tag: "v1")
        async let basicImage = basicRegistry.push(layout, repository: "private/small", tag: "v1")
        async let publicImage = tokenRegistry.push(layout, repository: "public/small", tag: "v1")
        async let privateImage = tokenRegistry.push(layout, repository: "private/small", tag: "v1")
        async let quirkyPublic = quirkyRegistry.push(layout, repository: "public/small", tag: "v1")
        async let quirkyPrivate = quirkyRegistry.push(layout, repository: "private/small", tag: "v1")
        return try await FaultFixture(
            open: openRegistry, basic: basicRegistry, token: tokenRegistry, quirkyToken: quirkyRegistry, small: small, basicImage: basicImage,
            publicImage: publicImage, privateImage: privateImage, quirkyPublic: quirkyPublic, quirkyPrivate: quirkyPrivate, layout: layout)
    }

    func stop() {
        for registry in [open, basic, token, quirkyToken] { registry.stop() }
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
