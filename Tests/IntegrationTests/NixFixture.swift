import Foundation
import RegistryTestBed
import Testing

/// Registries and images for the Nix tests, pushed once per run. Layer
/// seeds carry a run id so every run fetches new blobs into the store
/// instead of finding the last run's.
final class NixFixture: SuiteFixture {
    static let alice = (user: "alice", password: "nix-Secret-pa55")

    let open: TestRegistry
    let basic: TestRegistry
    /// Docker schema 2, a base layer and one of its own.
    let one: PushedImage
    /// OCI, the same base layer and another of its own.
    let two: PushedImage
    /// OCI index: amd64 and arm64/v8, sharing their base layer.
    let multi: PushedImage
    /// In the htpasswd registry.
    let secret: PushedImage
    /// For nixpkgs' command lines.
    let compat: PushedImage
    /// For the hash-mismatch test.
    let mismatch: PushedImage
    private let layouts: [TestImage]

    private init(open: TestRegistry, basic: TestRegistry, images: [String: PushedImage], layouts: [TestImage]) {
        self.open = open
        self.basic = basic
        one = images["one"]!
        two = images["two"]!
        multi = images["multi"]!
        secret = images["secret"]!
        compat = images["compat"]!
        mismatch = images["mismatch"]!
        self.layouts = layouts
    }

    static func start() async throws -> NixFixture {
        let run = UUID().uuidString.prefix(8).lowercased()
        async let openRegistry = TestRegistry.start(auth: .open)
        async let basicRegistry = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]))
        let builder = TestImageBuilder()
        let base = TestLayerSpec(seed: "nix-base-\(run)", approximateSize: 60_000, sharedAcrossPlatforms: true)
        func layer(_ name: String, _ size: Int = 5_000) -> TestLayerSpec {
            TestLayerSpec(seed: "nix-\(name)-\(run)", approximateSize: size, fileCount: 1)
        }
        async let oneImage = builder.build(tag: "v1", layers: [base, layer("one")])
        async let twoImage = builder.build(tag: "v1", layers: [base, layer("two")])
        async let multiImage = builder.build(tag: "v1", platforms: [.linuxAMD64, .linuxARM64], layers: [base, layer("multi")])
        async let secretImage = builder.build(tag: "v1", layers: [layer("secret", 20_000)])
        async let compatImage = builder.build(tag: "v1", layers: [layer("compat-a"), layer("compat-b")])
        async let mismatchImage = builder.build(tag: "v1", layers: [layer("mismatch")])
        let (open, basic) = try await (openRegistry, basicRegistry)
        let built = try await [oneImage, twoImage, multiImage, secretImage, compatImage, mismatchImage]
        do {
            async let one = open.push(built[0], repository: "nix/one", tag: "v1", format: .dockerSchema2)
            async let two = open.push(built[1], repository: "nix/two", tag: "v1")
            async let multi = open.push(built[2], repository: "nix/multi", tag: "v1")
            async let secret = basic.push(built[3], repository: "private/app", tag: "v1")
            async let compat = open.push(built[4], repository: "nix/compat", tag: "v1")
            async let mismatch = open.push(built[5], repository: "nix/mismatch", tag: "v1")
            let images = try await [
                "one": one, "two": two, "multi": multi, "secret": secret, "compat": compat, "mismatch": mismatch,
            ]
            return NixFixture(open: open, basic: basic, images: images, layouts: built)
        } catch {
            open.stop()
            basic.stop()
            for image in built { image.remove() }
            throw error
        }
    }

    func stop() {
        open.stop()
        basic.stop()
        for layout in layouts { layout.remove() }
    }

    /// `--registry http://127.0.0.1:PORT/v2/ REPOSITORY TAG` for an image in the open registry.
    func arguments(_ image: PushedImage, registry: TestRegistry? = nil) -> [String] {
        ["--registry", (registry ?? open).v2URL, image.repository, image.tag]
    }

    @TaskLocal static var current: NixFixture?
    static var scope: TaskLocal<NixFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<NixFixture> {
    /// Registries with the Nix tests' images, shared by the suite.
    static var nixRegistries: Self { Self() }
}
