import Foundation
import ImageSpec
import NixExpression
import RegistryTestBed
import Testing

// End-to-end tests of docker2nix and nix/ with a real Nix (nix-build,
// sandbox off, no substituters, the machine's store) against real
// registries: generated expressions are built, a second build is a no-op,
// the results load with podman, layers are shared between images, a wrong
// hash fails, credentials travel as impure variables, and nixpkgs' own
// hocker command lines work.

/// What the Nix tests need and how they run Nix and the built executables.
enum NixBed {
    static let tools = ["nix-build", "nix-instantiate", "nix-store", "docker-registry", "skopeo", "podman", "htpasswd", "openssl", "tar", "gzip"]

    static var enabled: Bool { TestTools.missing(tools).isEmpty || TestTools.requireIntegration() }

    static var skipComment: Comment {
        "Nix tests skipped, missing: \(TestTools.missing(tools).joined(separator: ", ")) (Debian: apt-get install nix-bin docker-registry skopeo podman apache2-utils); set HOCKER_REQUIRE_INTEGRATION=1 to fail instead"
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The `nix/` library.
    static let library = packageRoot + "/nix"

    /// The built executables.
    static var binaries: String { HockerBinary.directory }

    /// An environment with no credentials and an empty HOME, plus `extra`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        HockerBinary.isolatedEnvironment.merging(extra) { $1 }
    }

    /// Runs one of the built executables.
    static func run(_ tool: String, _ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:]) async throws -> ProcessResult {
        try await HockerBinary.run(tool, arguments, environment: extra, stdin: stdin)
    }

    /// `docker2nix ARGS` that must succeed: its output.
    static func docker2nix(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> String {
        let result = try await run("docker2nix", arguments, environment: extra)
        try #require(result.succeeded, "docker2nix \(arguments.joined(separator: " ")) failed: \(result.stderrText)")
        return result.stdoutText
    }

    /// `nix-build` of an expression, with no out-link; not checked.
    static func nixBuild(_ expression: NixExpr, arguments: [String] = [], environment extra: [String: String] = [:]) async throws -> ProcessResult {
        let source = try NixPrinter().render(expression)
        return try await runProcess(
            "nix-build", ["--option", "sandbox", "false", "--option", "substituters", "", "--no-out-link"] + arguments + ["-E", source],
            environment: environment(extra), timeout: .seconds(300))
    }

    /// `nix-build` that must succeed: the store path it printed.
    static func build(_ expression: NixExpr, arguments: [String] = [], environment extra: [String: String] = [:]) async throws -> (path: String, log: String) {
        let result = try await nixBuild(expression, arguments: arguments, environment: extra)
        try #require(result.succeeded, "nix-build failed:\n\(result.stderrText)")
        let path = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(path.hasPrefix("/nix/store/") && !path.contains("\n"), "nix-build printed \(result.stdoutText)")
        return (path, result.stderrText)
    }

    /// `nix-instantiate --eval --strict --json` of an expression.
    static func evaluate(_ expression: NixExpr) async throws -> Any {
        let result = try await runChecked(
            "nix-instantiate", ["--eval", "--strict", "--json", "-E", try NixPrinter().render(expression)], environment: environment())
        return try JSONSerialization.jsonObject(with: result.stdout, options: [.fragmentsAllowed])
    }

    /// `import <nix/> { hocker = "<built hocker>"; system = ...; }`.
    static func hockerLibrary(system: String? = nil) -> NixExpr {
        var arguments: [NixBinding] = [.attr("hocker", .string(binaries + "/hocker"))]
        if let system { arguments.append(.attr("system", .string(system))) }
        return .call(.variable("import"), .path(library), .attrs(arguments))
    }

    /// `(import <nix/> {...}).callImage <file>`: the image a generated expression describes.
    static func image(_ file: String, system: String? = nil) -> NixExpr {
        .call(.select(hockerLibrary(system: system), ["callImage"]), .path(file))
    }

    /// Writes a generated expression into `directory`; returns its path.
    static func write(_ text: String, _ name: String, in directory: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The requests hocker has made to `registry` so far (its access log).
    static func hockerRequests(_ registry: TestRegistry) -> Int {
        registry.log().split(separator: "\n").filter { $0.contains("\"hocker/") }.count
    }

}

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

/// The seed manifest through the built executables: no registry needed.
@Suite struct Docker2NixSeedTests {
    static let seedManifest = "/Tests/NixExpressionTests/Fixtures/manifest-debian_jessie.json"
    static let golden = "/Tests/NixExpressionTests/Fixtures/debian_jessie.nix"

    enum Invocation: String, CaseIterable, Sendable {
        case pipe = "docker2nix library/debian jessie < manifest"
        case subcommand = "hocker docker2nix library/debian jessie < manifest"
        case manifestFile = "docker2nix --manifest FILE library/debian jessie"
        case manifestDash = "docker2nix --manifest - library/debian jessie < manifest"
        case rtsOptions = "docker2nix library/debian jessie +RTS -N4 -RTS < manifest"
    }

    @Test(
        .enabled(if: FileManager.default.isExecutableFile(atPath: NixBed.binaries + "/docker2nix") || TestTools.requireIntegration(), "docker2nix is not built"),
        arguments: Invocation.allCases)
    func seedGivesHockersExpression(_ invocation: Invocation) async throws {
        let manifestPath = NixBed.packageRoot + Self.seedManifest
        let manifest = try Data(contentsOf: URL(fileURLWithPath: manifestPath))
        let result: ProcessResult
        switch invocation {
        case .pipe: result = try await NixBed.run("docker2nix", ["library/debian", "jessie"], stdin: manifest)
        case .subcommand: result = try await NixBed.run("hocker", ["docker2nix", "library/debian", "jessie"], stdin: manifest)
        case .manifestFile: result = try await NixBed.run("docker2nix", ["--manifest", manifestPath, "library/debian", "jessie"])
        case .manifestDash: result = try await NixBed.run("docker2nix", ["--manifest", "-", "library/debian", "jessie"], stdin: manifest)
        case .rtsOptions: result = try await NixBed.run("docker2nix", ["library/debian", "jessie", "+RTS", "-N4", "-RTS"], stdin: manifest)
        }
        try #require(result.succeeded, "\(result.stderrText)")
        let expected = try String(contentsOfFile: NixBed.packageRoot + Self.golden, encoding: .utf8)
        #expect(result.stdoutText == expected)
        #expect(result.stdoutText.contains(#"sha256 = "1rwinmvfc8jxn54y7qnj82acrc97y7xcnn22zaz67y76n4wbwjh5";"#))
        #expect(result.stdoutText.contains(#"sha256 = "1744l0c8ag5y7ck9nhr6r5wy9frmaxi7xh80ypgnxb7g891m42nd";"#))
    }

    @Test(.enabled(if: TestTools.path("nix-instantiate") != nil || TestTools.requireIntegration(), "nix-instantiate is not installed (apt-get install nix-bin)"))
    func nixParsesTheSeedOutput() async throws {
        let manifest = try Data(contentsOf: URL(fileURLWithPath: NixBed.packageRoot + Self.seedManifest))
        let result = try await NixBed.run("docker2nix", ["library/debian", "jessie"], stdin: manifest)
        try #require(result.succeeded, "\(result.stderrText)")
        let parsed = try await runProcess("nix-instantiate", ["--parse", "-"], stdin: result.stdout)
        #expect(parsed.succeeded, "\(parsed.stderrText)")
    }

    /// `--altName` with characters Nix must escape comes out escaped, and Nix reads it back.
    @Test(.enabled(if: TestTools.path("nix-instantiate") != nil || TestTools.requireIntegration(), "nix-instantiate is not installed (apt-get install nix-bin)"))
    func altNameIsEscaped() async throws {
        let manifest = try Data(contentsOf: URL(fileURLWithPath: NixBed.packageRoot + Self.seedManifest))
        let name = #"my "debian" \ ${builtins.abort "no"}"#
        let result = try await NixBed.run("docker2nix", ["--altName", name, "library/debian", "jessie"], stdin: manifest)
        try #require(result.succeeded, "\(result.stderrText)")
        #expect(result.stdoutText.contains(#"name = "my \"debian\" \\ \${builtins.abort \"no\"}";"#))
        let directory = try Scratch.directory("nix-altname")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try NixBed.write(result.stdoutText, "debian.nix", in: directory)
        let stub = NixExpr.lambda(.identifier("a"), .variable("a"))
        let call = NixExpr.select(
            .call(.variable("import"), .path(file), .attrs([.attr("fetchdocker", stub), .attr("fetchDockerConfig", stub), .attr("fetchDockerLayer", stub)])),
            ["name"])
        #expect(try await NixBed.evaluate(call) as? String == name)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: NixBed.binaries + "/docker2nix") || TestTools.requireIntegration(), "docker2nix is not built"))
    func emptyPipeFails() async throws {
        let result = try await NixBed.run("docker2nix", ["library/debian", "jessie"], stdin: Data())
        #expect(result.status == 1)
        #expect(result.stderrText.contains("hocker: error: no manifest on stdin: it is empty"))
    }
}

/// docker2nix against the local registries, its output built with nix-build.
@Suite(.serialized, .enabled(if: NixBed.enabled, NixBed.skipComment), .nixRegistries)
struct NixBuildTests {
    /// An image and how docker2nix is asked for it in the fetchdocker format.
    struct FetchDockerCase: Sendable, CustomTestStringConvertible {
        var label: String
        var image: @Sendable (NixFixture) -> PushedImage
        var extra: [String]
        var architecture: String
        var testDescription: String { label }
    }

    static let fetchDockerCases = [
        FetchDockerCase(label: "docker schema 2", image: { $0.one }, extra: [], architecture: "amd64"),
        FetchDockerCase(label: "oci", image: { $0.two }, extra: [], architecture: "amd64"),
        FetchDockerCase(label: "index, amd64", image: { $0.multi }, extra: ["--platform", "linux/amd64"], architecture: "amd64"),
    ]

    /// hocker's expression, fetched by docker2nix itself, built by nix/:
    /// loads with podman (image.tar and compositeImage.sh), and a second
    /// build is a no-op that asks the registry nothing.
    @Test(arguments: fetchDockerCases)
    func fetchdockerFormat(_ testCase: FetchDockerCase) async throws {
        let fixture = try NixFixture.shared
        let image = testCase.image(fixture)
        let directory = try Scratch.directory("nix-fetchdocker")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try await NixBed.docker2nix(testCase.extra + fixture.arguments(image))
        #expect(text.hasPrefix("{ fetchDockerConfig, fetchDockerLayer, fetchdocker }:\nfetchdocker rec {\n"))
        let manifest = image.manifests.first { $0.platform.architecture == testCase.architecture } ?? image.single
        for digest in manifest.layerDigests {
            #expect(text.contains(#"layerDigest = "\#(digest.dropFirst(7))";"#))
        }
        let file = try NixBed.write(text, "image.nix", in: directory)

        let first = try await NixBed.build(NixBed.image(file))
        #expect(first.log.contains("hocker: fetching blob"))
        let requests = NixBed.hockerRequests(fixture.open)
        let second = try await NixBed.build(NixBed.image(file))
        #expect(second.path == first.path)
        #expect(!second.log.contains("will be built") && !second.log.contains("building '"), "second build: \(second.log)")
        #expect(NixBed.hockerRequests(fixture.open) == requests)

        let archive = first.path + "/image.tar"
        let loaded = try await Podman.loadAndInspect(archive: archive, image: "\(fixture.open.hostPort)/\(image.repository):\(image.tag)")
        let inspect = try #require(try JSONSerialization.jsonObject(with: Data(loaded.utf8)) as? [[String: Any]])
        #expect(inspect.first?["Architecture"] as? String == testCase.architecture)
        // compositeImage.sh writes the same archive, for `| docker load`.
        let composite = try await runChecked("/bin/sh", ["-c", "\"$0\"/compositeImage.sh", first.path])
        #expect(composite.stdout == (try Data(contentsOf: URL(fileURLWithPath: archive))))
    }

    /// `--format hocker` (one platform, and an index with `--platform all`)
    /// built for each Nix system; `--json` through fetchImageFromJSON is the
    /// very same derivation; the archive is deterministic (`--check`).
    @Test func hockerFormat() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-hocker-format")
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let single = try NixBed.write(try await NixBed.docker2nix(["--format", "hocker"] + fixture.arguments(fixture.two)), "two.nix", in: directory)
        let built = try await NixBed.build(NixBed.image(single))
        let loaded = try await Podman.load(archive: built.path)
        #expect(loaded.contains("Loaded image: \(fixture.open.hostPort)/nix/two:v1"), "\(loaded)")
        _ = try await NixBed.build(NixBed.image(single), arguments: ["--check"])

        let json = try NixBed.write(try await NixBed.docker2nix(["--json"] + fixture.arguments(fixture.two)), "two.json", in: directory)
        let fromJSON = try await NixBed.build(.call(.select(NixBed.hockerLibrary(), ["fetchImageFromJSON"]), .path(json)))
        #expect(fromJSON.path == built.path)

        let multiText = try await NixBed.docker2nix(["--format", "hocker", "--platform", "all"] + fixture.arguments(fixture.multi))
        #expect(multiText.contains(#"platform = "linux/amd64";"#) && multiText.contains(#"platform = "linux/arm64/v8";"#))
        #expect(multiText.contains(#"indexDigest = "\#(fixture.multi.digest)";"#))
        let multi = try NixBed.write(multiText, "multi.nix", in: directory)
        for (system, architecture) in [("x86_64-linux", "amd64"), ("aarch64-linux", "arm64")] {
            let result = try await NixBed.build(NixBed.image(multi, system: system))
            let inspect = try await Podman.loadAndInspect(archive: result.path, image: "\(fixture.open.hostPort)/nix/multi:v1")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [[String: Any]])
            #expect(object.first?["Architecture"] as? String == architecture, "\(system)")
        }
        // A system the pin has no image for fails at evaluation, naming what it has.
        let missing = try await NixBed.nixBuild(NixBed.image(multi, system: "s390x-linux"))
        #expect(!missing.succeeded)
        #expect(missing.stderrText.contains("no image for linux/s390x (system s390x-linux); the pin has linux/amd64, linux/arm64/v8"), "\(missing.stderrText)")
    }

    /// Two images with the same base layer use one store path for it, in
    /// either format.
    @Test func sharedBaseLayer() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-shared")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = try #require(fixture.one.single.layerDigests.first)
        #expect(fixture.two.single.layerDigests.first == base)

        var basePaths: [String] = []
        for image in [fixture.one, fixture.two] {
            let file = try NixBed.write(try await NixBed.docker2nix(fixture.arguments(image)), "\(image.repository.split(separator: "/").last!).nix", in: directory)
            _ = try await NixBed.build(NixBed.image(file))
            let paths = try #require(try await NixBed.evaluate(.call(.variable("map"), .lambda(.identifier("l"), .select(.variable("l"), ["outPath"])), .select(NixBed.image(file), ["imageLayers"]))) as? [String])
            basePaths.append(try #require(paths.first))
            let hocker = try NixBed.write(try await NixBed.docker2nix(["--format", "hocker"] + fixture.arguments(image)), "h-\(image.repository.split(separator: "/").last!).nix", in: directory)
            let layers = try #require(try await NixBed.evaluate(.call(.variable("map"), .lambda(.identifier("l"), .select(.variable("l"), ["outPath"])), .select(NixBed.image(hocker), ["layers"]))) as? [String])
            basePaths.append(try #require(layers.first))
        }
        #expect(Set(basePaths).count == 1, "\(basePaths)")
        #expect(basePaths[0].hasSuffix("-docker-layer-\(base.dropFirst(7)).tar.gz"))
        #expect(FileManager.default.fileExists(atPath: basePaths[0]))
    }

    /// A wrong sha256 makes nix-build fail with Nix's hash mismatch error.
    @Test func wrongHashFails() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-mismatch")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try await NixBed.docker2nix(fixture.arguments(fixture.mismatch))
        let layer = try #require(fixture.mismatch.single.layerDigests.first)
        let right = try NixHash.base32(.init(parsing: layer))
        let wrong = try NixHash.base32(.init(parsing: "sha256:" + String(repeating: "0", count: 63) + "1"))
        #expect(text.contains(#"sha256 = "\#(right)";"#))
        let file = try NixBed.write(text.replacingOccurrences(of: right, with: wrong), "wrong.nix", in: directory)
        let result = try await NixBed.nixBuild(NixBed.image(file))
        #expect(!result.succeeded)
        #expect(result.stderrText.contains("hash mismatch in fixed-output derivation"), "\(result.stderrText)")
        #expect(result.stdoutText.isEmpty)
    }

    /// Through the htpasswd registry: without credentials the fetch is
    /// refused; with DOCKER_USER/DOCKER_PASS in nix-build's environment
    /// (impureEnvVars) it builds, and the password is in no derivation.
    @Test func credentialsAsImpureVariables() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-credentials")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let credentials = ["DOCKER_USER": NixFixture.alice.user, "DOCKER_PASS": NixFixture.alice.password]
        let anonymous = try await NixBed.run("docker2nix", fixture.arguments(fixture.secret, registry: fixture.basic))
        #expect(anonymous.status == 1)
        let text = try await NixBed.docker2nix(fixture.arguments(fixture.secret, registry: fixture.basic), environment: credentials)
        let file = try NixBed.write(text, "secret.nix", in: directory)

        let refused = try await NixBed.nixBuild(NixBed.image(file))
        #expect(!refused.succeeded)
        #expect(refused.stderrText.contains("unauthorized"), "\(refused.stderrText)")

        let built = try await NixBed.build(NixBed.image(file), environment: credentials)
        let loaded = try await Podman.load(archive: built.path + "/image.tar")
        #expect(loaded.contains("Loaded image: \(fixture.basic.hostPort)/private/app:v1"), "\(loaded)")

        let derivation = try await runChecked(
            "nix-instantiate", ["-E", try NixPrinter().render(NixBed.image(file))], environment: NixBed.environment())
        let closure = try await runChecked(
            "nix-store", ["-qR", derivation.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)], environment: NixBed.environment())
        for path in closure.stdoutText.split(separator: "\n") where path.hasSuffix(".drv") {
            let contents = try String(contentsOfFile: String(path), encoding: .utf8)
            #expect(!contents.contains(NixFixture.alice.password), "\(path) holds the password")
            #expect(contents.contains("DOCKER_PASS") || !contents.contains("outputHash"), "\(path) lacks impureEnvVars")
        }
    }

    /// nixpkgs' fetchDockerLayer and fetchDockerConfig run
    /// `hocker-layer --out="$out" --registry "$registry" --layer <hex> "<repository>/<imageName>" "unused" +RTS -N4 -RTS`
    /// and `hocker-config` the same way with the real tag: exactly those
    /// lines from a shell, then from Nix fixed-output derivations shaped like
    /// nixpkgs' (builder /bin/sh) applied to docker2nix's output.
    @Test func nixpkgsCommandLines() async throws {
        let fixture = try NixFixture.shared
        let image = fixture.compat
        let directory = try Scratch.directory("nix-nixpkgs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = NixBed.environment(["registry": fixture.open.v2URL, "PATH": NixBed.binaries + ":/usr/bin:/bin"])

        let layer = try #require(image.single.layerDigests.first)
        let layerOut = directory + "/layer.tar.gz"
        let layerLine = #"hocker-layer --out="$out" --registry "$registry" --layer \#(layer.dropFirst(7)) "nix/compat" "unused" +RTS -N4 -RTS"#
        _ = try await runChecked("/bin/sh", ["-c", layerLine], environment: environment.merging(["out": layerOut]) { $1 })
        #expect(try sha256Digest(file: layerOut) == layer)
        let configOut = directory + "/config.json"
        let configLine = #"hocker-config --out="$out" --registry "$registry" "nix/compat" "v1" +RTS -N4 -RTS"#
        _ = try await runChecked("/bin/sh", ["-c", configLine], environment: environment.merging(["out": configOut]) { $1 })
        #expect(try sha256Digest(file: configOut) == image.single.configDigest)

        let text = try await NixBed.docker2nix(fixture.arguments(image))
        let expression = try NixBed.write(text, "compat.nix", in: directory)
        let fetchers = try NixBed.write(Self.nixpkgsShapedFetchers, "fetchers.nix", in: directory)
        // import ./compat.nix (import ./fetchers.nix { bin = ...; }), whose fetchdocker returns its blobs.
        let blobs = NixExpr.call(.variable("import"), .path(expression), .call(.variable("import"), .path(fetchers), .attrs([.attr("bin", .string(NixBed.binaries))])))
        let result = try await NixBed.nixBuild(blobs)
        try #require(result.succeeded, "\(result.stderrText)")
        let paths = result.stdoutText.split(separator: "\n").map(String.init)
        #expect(paths.count == 1 + image.single.layerDigests.count)
        for path in paths {
            let digest = try sha256Digest(file: path)
            #expect(digest == image.single.configDigest || image.single.layerDigests.contains(digest), "\(path)")
        }
        #expect(paths.contains { $0.hasSuffix("-nix_compat_v1-config.json") })
    }

    /// Fetchers with nixpkgs' names and argument handling whose builders run
    /// nixpkgs' command line through /bin/sh, with hocker's executables from `bin`.
    static let nixpkgsShapedFetchers = #"""
        { bin }:
        let
          generic = { fetcher, name, registry ? "https://registry-1.docker.io/v2/", repository ? "library", imageName, sha256, tag ? "", layerDigest ? "" }:
            builtins.derivation {
              inherit name registry;
              system = builtins.currentSystem;
              builder = "/bin/sh";
              args = [ "-c" ''
                ${bin}/${fetcher} --out="$out" \
                  ''${registry:+--registry "$registry"} \
                  ''${DOCKER_USER:+--username "$DOCKER_USER"} \
                  ''${DOCKER_PASS:+--password "$DOCKER_PASS"} \
                  ''${DOCKER_TOKEN:+--token "$DOCKER_TOKEN"} \
                  ${if layerDigest != "" then "--layer ${layerDigest}" else ""} \
                  "${repository}/${imageName}" \
                  "${tag}" \
                  +RTS -N''${NIX_BUILD_CORES} -RTS
              '' ];
              outputHashAlgo = "sha256";
              outputHashMode = "flat";
              outputHash = sha256;
              impureEnvVars = [ "DOCKER_USER" "DOCKER_PASS" "DOCKER_TOKEN" ];
            };
        in {
          fetchDockerLayer = args: generic ({ fetcher = "hocker-layer"; name = "docker-layer-${args.layerDigest}.tar.gz"; tag = "unused"; } // args);
          fetchDockerConfig = args: generic ({ fetcher = "hocker-config"; name = "${args.repository}_${args.imageName}_${args.tag}-config.json"; tag = "unused"; } // args);
          fetchdocker = args: [ args.imageConfig ] ++ args.imageLayers;
        }
        """#

    // MARK: docker2nix against the registry, without Nix

    /// An index piped in is refused with its platforms and how to pick one.
    @Test func pipedIndexFails() async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", fixture.arguments(fixture.multi), stdin: fixture.multi.manifestBytes)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let stderr = result.stderrText
        #expect(stderr.hasPrefix("hocker: error: the manifest on stdin is an index"), "\(stderr)")
        #expect(stderr.contains("its platforms: linux/amd64, linux/arm64/v8"), "\(stderr)")
        #expect(stderr.contains("hint: pick one platform's manifest: hocker-manifest --platform linux/amd64"), "\(stderr)")
        #expect(stderr.contains("docker2nix --format hocker --platform all"), "\(stderr)")
    }

    /// What the fetched pin records: digests, sizes and media types as served.
    @Test func jsonDescribesTheIndex() async throws {
        let fixture = try NixFixture.shared
        let text = try await NixBed.docker2nix(["--json", "--platform", "linux/arm64", "--platform", "linux/amd64"] + fixture.arguments(fixture.multi))
        let pin = try JSONDecoder().decode(ImagePin.self, from: Data(text.utf8))
        #expect(pin.repository == "nix/multi")
        #expect(pin.registry == fixture.open.v2URL)
        #expect(pin.indexDigest?.description == fixture.multi.digest)
        #expect(pin.images.map(\.platform) == ["linux/arm64/v8", "linux/amd64"])
        for image in pin.images {
            let served = try #require(fixture.multi.manifests.first { $0.digest == image.manifestDigest.description })
            #expect(image.config.digest.description == served.configDigest)
            #expect(Int(image.config.size) == served.configSize)
            #expect(image.layers.map(\.digest.description) == served.layerDigests)
            #expect(image.layers.map(\.mediaType) == served.layerMediaTypes)
            #expect(Int(image.manifestSize) == served.size)
        }
        // A plain manifest gets its platform from the image config.
        let single = try JSONDecoder().decode(ImagePin.self, from: Data(try await NixBed.docker2nix(["--json"] + fixture.arguments(fixture.one)).utf8))
        #expect(single.images.map(\.platform) == ["linux/amd64"])
        #expect(single.indexDigest == nil)
        #expect(single.images.first?.manifestMediaType == "application/vnd.docker.distribution.manifest.v2+json")
    }

    /// A manifest given on stdin records the platform named, as parsed; `all` names none.
    @Test(arguments: [
        (["--platform", "Linux/ARM64"], "linux/arm64" as String?),
        (["--platform", "all"], nil),
        ([], nil),
    ])
    func givenManifestRecordsTheNamedPlatform(_ flags: [String], _ recorded: String?) async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run(
            "docker2nix", ["--json"] + flags + fixture.arguments(fixture.one), stdin: fixture.one.manifestBytes)
        #expect(result.status == 0, "\(result.stderrText)")
        let pin = try JSONDecoder().decode(ImagePin.self, from: result.stdout)
        #expect(pin.images.map(\.platform) == [recorded])
    }

    @Test(arguments: [
        (["--platform", "all"], "the fetchdocker format pins one platform"),
        (["--platform", "linux/amd64", "--platform", "linux/arm64"], "the fetchdocker format pins one platform"),
        (["--format", "hocker", "--platform", "all", "--platform", "linux/amd64"], "--platform all takes no other --platform"),
        (["--json", "--format", "hocker"], "--json and --format hocker exclude each other"),
    ])
    func usageErrors(_ flags: [String], _ message: String) async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", flags + fixture.arguments(fixture.one))
        #expect(result.status == 2)
        #expect(result.stderrText.contains(message), "\(result.stderrText)")
    }

    @Test func missingPlatformListsTheOthers() async throws {
        let fixture = try NixFixture.shared
        let result = try await NixBed.run("docker2nix", ["--format", "hocker", "--platform", "linux/s390x"] + fixture.arguments(fixture.multi))
        #expect(result.status == 1)
        #expect(result.stderrText.contains("linux/amd64") && result.stderrText.contains("linux/arm64"), "\(result.stderrText)")
    }
}
