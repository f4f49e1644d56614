import Foundation
import NixExpression
import RegistryTestBed
import Testing

// End-to-end tests of docker2nix and nix/ with a real Nix (nix-build,
// sandbox off, no substituters, the machine's store) against real
// registries: generated expressions are built, a second build is a no-op,
// the results load with podman, layers are shared between images, a wrong
// hash fails, credentials travel as impure variables, and nixpkgs' own
// hocker command lines work. The same in the sandbox, over https, is in
// NixSandboxTests.

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

    /// nix/package.nix (for nixpkgs, which is not here to build it) parses.
    @Test func nixpkgsPackageParses() async throws {
        let result = try await runProcess("nix-instantiate", ["--parse", NixBed.library + "/package.nix"], environment: NixBed.environment())
        #expect(result.succeeded, "\(result.stderrText)")
        #expect(result.stdoutText.contains("fetchSwiftPMDeps"))
    }

    /// `cacert` as users pass it — a bundle file (path or absolute string,
    /// copied into the store), a package with etc/ssl/certs/ca-bundle.crt —
    /// is every fetch's SSL_CERT_FILE, and the caller's CA variables are then
    /// not impure (Nix would set them over it); without it they are.
    @Test func cacertReachesEveryFetch() async throws {
        let directory = try Scratch.directory("nix-cacert")
        defer { Scratch.remove(directory) }
        try FileManager.default.createDirectory(atPath: directory + "/pkg/etc/ssl/certs", withIntermediateDirectories: true)
        let bundle = "-----BEGIN CERTIFICATE-----\nnot checked by nix/\n-----END CERTIFICATE-----\n"
        try bundle.write(toFile: directory + "/pkg/etc/ssl/certs/ca-bundle.crt", atomically: true, encoding: .utf8)
        try bundle.write(toFile: directory + "/bundle.crt", atomically: true, encoding: .utf8)
        let forms: [(NixExpr, String?)] = [
            (.path(directory + "/bundle.crt"), "-ca-bundle.crt"),
            (.string(directory + "/bundle.crt"), "-ca-bundle.crt"),
            (.path(directory + "/pkg"), "-pkg/etc/ssl/certs/ca-bundle.crt"),
            (.attrs([.attr("type", .string("derivation")), .attr("outPath", .string("/nix/store/00000000000000000000000000000000-cacert"))]),
             "/nix/store/00000000000000000000000000000000-cacert/etc/ssl/certs/ca-bundle.crt"),
            (.null, nil),
        ]
        let printer = NixPrinter()
        for (cacert, suffix) in forms {
            let library = try printer.render(.call(.variable("import"), .path(NixBed.library), .attrs([.attr("hocker", .string("/hocker")), .attr("cacert", cacert)])))
            let blob = #"lib.fetchBlob { repository = "x/y"; digest = "sha256:\#(String(repeating: "a", count: 64))"; hash = "sha256-\#(String(repeating: "A", count: 43))="; }"#
            let config = #"lib.fetchDockerConfig { imageName = "y"; tag = "v1"; sha256 = "\#(String(repeating: "0", count: 52))"; }"#
            for fetch in [blob, config] {
                let source = "let lib = \(library); f = \(fetch); in { cert = toString (f.SSL_CERT_FILE or \"\"); impure = f.impureEnvVars; }"
                let result = try await runChecked("nix-instantiate", ["--eval", "--strict", "--json", "-E", source], environment: NixBed.environment())
                let attributes = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
                let impure = try #require(attributes["impure"] as? [String])
                let cert = try #require(attributes["cert"] as? String)
                if let suffix {
                    #expect(cert.hasSuffix(suffix) && cert.hasPrefix("/nix/store/"), "\(cert)")
                    #expect(!impure.contains("SSL_CERT_FILE") && !impure.contains("NIX_SSL_CERT_FILE"), "\(impure)")
                } else {
                    #expect(cert == "")
                    #expect(impure.contains("SSL_CERT_FILE") && impure.contains("NIX_SSL_CERT_FILE"), "\(impure)")
                }
                #expect(impure.contains("DOCKER_PASS"))
            }
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
}
