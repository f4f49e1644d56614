import Foundation
import NixExpression
import RegistryTestBed
import Testing

// nix-build as NixOS runs it: `sandbox = true` (no fallback to an
// unsandboxed build), build users nixbld, no substituters. The builder is
// the self-contained hocker of scripts/build-static, copied into the store;
// the registries are https, signed by a CA the suite makes, which reaches
// the fetches only as nix/'s `cacert`.

/// https registries for the sandboxed builds, with images whose layers are
/// new every run, so every build really fetches.
final class SandboxFixture: SuiteFixture {
    static let alice = (user: "alice", password: "sandbox-Secret-pa55")

    let ca: TestCertificateAuthority
    let open: TestRegistry
    let basic: TestRegistry
    /// amd64 + arm64/v8 behind an OCI index.
    let multi: PushedImage
    /// Docker schema 2, one platform.
    let single: PushedImage
    /// Fetched only by the build that must fail for want of a cacert.
    let untrusted: PushedImage
    /// In the htpasswd registry.
    let secret: PushedImage
    private let layouts: [TestImage]
    private let directory: String

    private init(ca: TestCertificateAuthority, open: TestRegistry, basic: TestRegistry, images: [PushedImage], layouts: [TestImage], directory: String) {
        self.ca = ca
        self.open = open
        self.basic = basic
        (multi, single, untrusted, secret) = (images[0], images[1], images[2], images[3])
        self.layouts = layouts
        self.directory = directory
    }

    static func start() async throws -> SandboxFixture {
        let run = UUID().uuidString.prefix(8).lowercased()
        let ca = try await TestCertificateAuthority.generate(label: "sandbox")
        let directory = try Scratch.directory("sandbox-fixture")
        let server = try await ca.issueServer(names: ["127.0.0.1", "localhost"], label: "server")
        let push = try ca.certDirectory(at: directory + "/push")
        async let openRegistry = TestRegistry.start(tls: .init(certificate: server, clientDirectory: push))
        async let basicRegistry = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]), tls: .init(certificate: server, clientDirectory: push))
        let builder = TestImageBuilder()
        func layer(_ name: String, _ size: Int = 5_000) -> TestLayerSpec {
            TestLayerSpec(seed: "sandbox-\(name)-\(run)", approximateSize: size, fileCount: 1)
        }
        async let multiImage = builder.build(tag: "v1", platforms: [.linuxAMD64, .linuxARM64], layers: [layer("multi-base", 30_000), layer("multi-app")])
        async let singleImage = builder.build(tag: "v1", layers: [layer("single-base", 20_000), layer("single-app")])
        async let untrustedImage = builder.build(tag: "v1", layers: [layer("untrusted")])
        async let secretImage = builder.build(tag: "v1", layers: [layer("secret")])
        let (open, basic) = try await (openRegistry, basicRegistry)
        let layouts = try await [multiImage, singleImage, untrustedImage, secretImage]
        async let multi = open.push(layouts[0], repository: "sandbox/multi", tag: "v1")
        async let single = open.push(layouts[1], repository: "sandbox/single", tag: "v1", format: .dockerSchema2)
        async let untrusted = open.push(layouts[2], repository: "sandbox/untrusted", tag: "v1")
        async let secret = basic.push(layouts[3], repository: "private/app", tag: "v1")
        let images = try await [multi, single, untrusted, secret]
        return SandboxFixture(ca: ca, open: open, basic: basic, images: images, layouts: layouts, directory: directory)
    }

    func stop() {
        open.stop()
        basic.stop()
        for layout in layouts { layout.remove() }
        ca.remove()
        Scratch.remove(directory)
    }

    /// docker2nix trusts the CA through SSL_CERT_FILE, as a person's shell would.
    var docker2nixEnvironment: [String: String] { ["SSL_CERT_FILE": ca.certificatePath] }

    @TaskLocal static var current: SandboxFixture?
    static var scope: TaskLocal<SandboxFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<SandboxFixture> {
    /// The https registries of the sandboxed Nix builds.
    static var sandboxRegistries: Self { Self() }
}

/// Whether the sandboxed builds can run: Nix and the test bed's tools, and
/// root (nix-build without a daemon runs builds as nixbld users only as root).
enum SandboxBed {
    static var enabled: Bool { (NixBed.enabled && getuid() == 0) || TestTools.requireIntegration() }
    static var skipComment: Comment { "sandboxed Nix builds need root, nix-bin and the nixbld users (nix-setup-systemd); set HOCKER_REQUIRE_INTEGRATION=1 to fail instead" }

    /// `nix-build --option sandbox true` (no fallback), no substituters, no out-link.
    static func nixBuild(_ expression: NixExpr, environment extra: [String: String] = [:]) async throws -> ProcessResult {
        let source = try NixPrinter().render(expression)
        return try await runProcess(
            "nix-build",
            ["--option", "sandbox", "true", "--option", "sandbox-fallback", "false", "--option", "substituters", "", "--no-out-link", "-E", source],
            environment: NixBed.environment(extra), timeout: .seconds(600))
    }

    /// A sandboxed build that must succeed: its store path.
    static func build(_ expression: NixExpr, environment extra: [String: String] = [:]) async throws -> String {
        let result = try await nixBuild(expression, environment: extra)
        try #require(result.succeeded, "nix-build failed:\n\(result.stderrText)")
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `import <nix/> { hocker = <static dir>; cacert = <CA file>; }`, both
    /// path values, so Nix copies them into the store.
    static func library(hocker: String, cacert: String?) -> NixExpr {
        var arguments: [NixBinding] = [.attr("hocker", .path(hocker))]
        if let cacert { arguments.append(.attr("cacert", .path(cacert))) }
        return .call(.variable("import"), .path(NixBed.library), .attrs(arguments))
    }

    static func image(_ file: String, hocker: String, cacert: String?) -> NixExpr {
        .call(.select(library(hocker: hocker, cacert: cacert), ["callImage"]), .path(file))
    }
}

@Suite(.serialized, .enabled(if: SandboxBed.enabled, SandboxBed.skipComment), .sandboxRegistries)
struct NixSandboxTests {
    /// The sandbox is real: a dynamically linked hocker, copied into the
    /// store, cannot even start there (no loader, no libc), while the static
    /// one runs.
    @Test func theSandboxHasNothingFromTheHost() async throws {
        let staticHocker = try await StaticHocker.directory
        func versionDerivation(_ builder: String, _ name: String) -> NixExpr {
            // hocker nix-builder fails after printing why (no hockerAction), which is enough to show it ran.
            .call(.select(.variable("builtins"), ["derivation"]), .attrs([
                .attr("name", .string(name)), .attr("system", .select(.variable("builtins"), ["currentSystem"])),
                .attr("builder", .path(builder)), .attr("args", .list([.string("nix-builder")])),
            ]))
        }
        let dynamic = try await SandboxBed.nixBuild(versionDerivation(HockerBinary.path("hocker"), "dynamic-hocker-\(UUID().uuidString.prefix(6))"))
        #expect(!dynamic.succeeded)
        #expect(!dynamic.stderrText.contains("hocker nix-builder runs as the builder"), "the dynamic binary ran: \(dynamic.stderrText)")
        #expect(dynamic.stderrText.contains("No such file or directory"), "\(dynamic.stderrText)")

        let standalone = try await SandboxBed.nixBuild(versionDerivation(staticHocker + "/bin/hocker", "static-hocker-\(UUID().uuidString.prefix(6))"))
        #expect(!standalone.succeeded)
        #expect(standalone.stderrText.contains("the derivation has no 'hockerAction' attribute"), "\(standalone.stderrText)")
    }

    /// `docker2nix --format hocker --platform all` and the default
    /// (nixpkgs-compatible) format, built in the sandbox with cacert; each
    /// result loads with podman.
    @Test(arguments: [true, false])
    func buildsWithCacert(hockerFormat: Bool) async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("sandbox-build")
        defer { Scratch.remove(directory) }
        let image = hockerFormat ? fixture.multi : fixture.single
        let arguments = (hockerFormat ? ["--format", "hocker", "--platform", "all"] : []) + ["\(fixture.open.hostPort)/\(image.repository):v1"]
        let text = try await NixBed.docker2nix(arguments, environment: fixture.docker2nixEnvironment)
        #expect(text.contains(#"registry = "https://\#(fixture.open.hostPort)/v2/";"#), "\(text)")
        let file = try NixBed.write(text, "image.nix", in: directory)

        let result = try await SandboxBed.nixBuild(SandboxBed.image(file, hocker: staticHocker, cacert: fixture.ca.certificatePath))
        try #require(result.succeeded, "\(result.stderrText)")
        #expect(result.stderrText.contains("hocker: fetching blob"), "\(result.stderrText)")
        let path = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let archive = hockerFormat ? path : path + "/image.tar"
        let loaded = try await Podman.loadAndInspect(archive: archive, image: "\(fixture.open.hostPort)/\(image.repository):v1")
        let inspect = try #require(try JSONSerialization.jsonObject(with: Data(loaded.utf8)) as? [[String: Any]])
        #expect(inspect.first?["Architecture"] as? String == "amd64")
    }

    /// Without cacert the sandbox has no CA that signed the registry: the
    /// fetch fails with the certificate message and the cacert hint.
    @Test func withoutCacertTheCertificateIsNotTrusted() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("sandbox-untrusted")
        defer { Scratch.remove(directory) }
        let text = try await NixBed.docker2nix(
            ["--format", "hocker", "\(fixture.open.hostPort)/\(fixture.untrusted.repository):v1"], environment: fixture.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        // The caller's CA variables do not reach the build either way: clear them as a person's shell might have them set.
        let result = try await SandboxBed.nixBuild(
            SandboxBed.image(file, hocker: staticHocker, cacert: nil), environment: ["SSL_CERT_FILE": fixture.ca.certificatePath])
        #expect(!result.succeeded)
        let expected = "hocker: error: the certificate of \(fixture.open.hostPort) is not trusted (issuer: CN=hocker test CA sandbox, O=hocker test bed)"
        #expect(result.stderrText.contains(expected), "\(result.stderrText)")
        #expect(result.stderrText.contains("hint: the fetches trust the CA bundle passed as cacert to nix/"), "\(result.stderrText)")
        #expect(!result.stderrText.contains("--cert-dir"), "\(result.stderrText)")
    }

    /// Through the htpasswd registry: DOCKER_USER and DOCKER_PASS in
    /// nix-build's environment reach the sandboxed fetches, and no .drv
    /// holds the password.
    @Test func credentialsReachTheSandbox() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("sandbox-credentials")
        defer { Scratch.remove(directory) }
        let credentials = ["DOCKER_USER": SandboxFixture.alice.user, "DOCKER_PASS": SandboxFixture.alice.password]
        let text = try await NixBed.docker2nix(
            ["\(fixture.basic.hostPort)/\(fixture.secret.repository):v1"], environment: fixture.docker2nixEnvironment.merging(credentials) { $1 })
        let file = try NixBed.write(text, "secret.nix", in: directory)
        let expression = SandboxBed.image(file, hocker: staticHocker, cacert: fixture.ca.certificatePath)

        let path = try await SandboxBed.build(expression, environment: credentials)
        let loaded = try await Podman.load(archive: path + "/image.tar")
        #expect(loaded.contains("Loaded image: \(fixture.basic.hostPort)/private/app:v1"), "\(loaded)")

        let derivation = try await runChecked("nix-instantiate", ["-E", try NixPrinter().render(expression)], environment: NixBed.environment())
        let closure = try await runChecked(
            "nix-store", ["-qR", derivation.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)], environment: NixBed.environment())
        let derivations = closure.stdoutText.split(separator: "\n").filter { $0.hasSuffix(".drv") }
        #expect(derivations.count >= 3)
        for path in derivations {
            let contents = try String(contentsOfFile: String(path), encoding: .utf8)
            #expect(!contents.contains(SandboxFixture.alice.password), "\(path) holds the password")
            if contents.contains("outputHash\",\"") {
                #expect(contents.contains("DOCKER_PASS") && contents.contains("SSL_CERT_FILE"), "\(path) lacks impureEnvVars or the CA")
            }
        }
    }

    /// `HOCKER_MIRROR` reaches the sandboxed fetches (impureEnvVars): a pin
    /// of a registry name that does not resolve builds from a pull-through
    /// cache, with the same hashes.
    @Test func fetchesThroughAMirror() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("sandbox-mirror")
        defer { Scratch.remove(directory) }
        let upstream = try await TestRegistry.start()
        defer { upstream.stop() }
        let layout = try await TestImageBuilder().build(
            tag: "v1", layers: [TestLayerSpec(seed: "sandbox-mirror-\(UUID().uuidString.prefix(8))", approximateSize: 8_000, fileCount: 1)])
        defer { layout.remove() }
        let pushed = try await upstream.push(layout, repository: "sandbox/mirrored", tag: "v1")
        let server = try await fixture.ca.issueServer(names: ["127.0.0.1", "localhost"], label: "mirror")
        let cache = try await TestRegistry.start(
            tls: .init(certificate: server, clientDirectory: try fixture.ca.certDirectory(at: directory + "/client")), proxyRemoteURL: upstream.baseURL)
        defer { cache.stop() }
        let mirror = ["HOCKER_MIRROR": cache.hostPort]
        let name = "registry.invalid/\(pushed.repository):v1"
        let text = try await NixBed.docker2nix(["--format", "hocker", name], environment: fixture.docker2nixEnvironment.merging(mirror) { $1 })
        #expect(text.contains(#"registry = "https://registry.invalid/v2/";"#), "\(text)")
        let file = try NixBed.write(text, "mirrored.nix", in: directory)
        let blobGETs = { upstream.log().split(separator: "\n").filter { $0.contains("\"GET /v2/\(pushed.repository)/blobs/sha256:") }.count }
        let before = blobGETs()
        let start = ContinuousClock.now
        let result = try await SandboxBed.nixBuild(SandboxBed.image(file, hocker: staticHocker, cacert: fixture.ca.certificatePath), environment: mirror)
        try #require(result.succeeded, "\(result.stderrText)")
        print("mirror report: sandboxed nix-build through HOCKER_MIRROR=\(cache.hostPort) in \(ContinuousClock.now - start); upstream blob GETs \(blobGETs() - before)")
        #expect(result.stderrText.contains("hocker: sources, in order: mirror \(cache.hostPort), registry.invalid"), "\(result.stderrText)")
        let loaded = try await Podman.load(archive: result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(loaded.contains("registry.invalid/\(pushed.repository)"), "\(loaded)")
    }
}
