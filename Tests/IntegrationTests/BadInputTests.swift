import Foundation
import RegistryClient
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// What a user gets wrong: clear messages, the right exit status, no output file.
    @Suite("Bad input")
    struct BadInputTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            var arguments: @Sendable (RegistryFixture, _ out: String) -> [String]
            var status: Int32
            var mentions: @Sendable (RegistryFixture) -> [String]
            var testDescription: String { name }
        }

        static let cases: [Case] = [
            Case(
                name: "unknown tag", arguments: { ["hocker-image", "--out=\($1)", "--registry", $0.open.v2URL, "test/single", "nope"] }, status: 1,
                mentions: { ["manifest unknown", "test/single:nope", $0.open.hostPort] }),
            Case(
                name: "unknown repository", arguments: { ["hocker-manifest", "--out=\($1)", "--registry", $0.open.v2URL, "test/absent", "v1"] },
                status: 1, mentions: { ["repository unknown", "test/absent", $0.open.hostPort] }),
            Case(
                name: "unknown platform", arguments: { ["hocker-image", "--out=\($1)", "--platform", "linux/s390x", "\($0.open.hostPort)/test/multi:v1"] },
                status: 1, mentions: { _ in ["linux/s390x", "linux/amd64, linux/arm64/v8", "--platform"] }),
            Case(
                name: "malformed reference", arguments: { ["hocker-manifest", "--out=\($1)", "--registry", $0.open.v2URL, "Test/UPPER", "v1"] },
                status: 2, mentions: { _ in ["invalid image reference", "Test/UPPER"] }),
            Case(
                name: "malformed digest", arguments: { ["hocker-layer", "--out=\($1)", "--registry", $0.open.v2URL, "--layer", "sha256:../../etc/passwd", "x/y", "unused"] },
                status: 2, mentions: { _ in ["invalid digest"] }),
            Case(
                name: "malformed tag digest", arguments: { ["hocker-manifest", "--out=\($1)", "--registry", $0.open.v2URL, "test/single", "sha256:1234"] },
                status: 2, mentions: { _ in ["invalid digest"] }),
            Case(
                name: "malformed platform", arguments: { ["hocker-manifest", "--out=\($1)", "--platform", "linux", "\($0.open.hostPort)/test/multi:v1"] },
                status: 2, mentions: { _ in ["invalid platform"] }),
            Case(
                name: "unknown flag", arguments: { ["hocker-config", "--out=\($1)", "--bogus", "x", "y"] }, status: 2,
                mentions: { _ in ["--bogus", "--help"] }),
            Case(
                name: "missing argument", arguments: { ["hocker-layer", "--out=\($1)", "x/y", "unused"] }, status: 2, mentions: { _ in ["--layer"] }),
            Case(
                name: "username without password", arguments: { ["hocker-manifest", "--out=\($1)", "-u", "alice", "\($0.open.hostPort)/test/single:v1"] },
                status: 2, mentions: { _ in ["--password"] }),
            Case(
                name: "registry that does not answer", arguments: { ["hocker-manifest", "--out=\($1)", "--retries", "1", "--registry", "http://127.0.0.1:9/v2/", "a/b", "c"] },
                status: 1, mentions: { _ in ["127.0.0.1:9"] }),
        ]

        @Test(arguments: cases)
        func refused(_ testCase: Case) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("bad")
            defer { Scratch.remove(directory) }
            let argv = testCase.arguments(fixture, "\(directory)/output")
            let result = try await HockerBinary.run(argv[0], Array(argv.dropFirst()))
            #expect(result.status == testCase.status, "\(result.stderrText)")
            #expect(FailureOutput(result.stderrText).isWellFormed, "\(result.stderrText)")
            for mention in testCase.mentions(fixture) {
                #expect(result.stderrText.contains(mention), "expected '\(mention)' in: \(result.stderrText)")
            }
            #expect(result.stdout.isEmpty)
            #expect(Scratch.contents(directory).isEmpty, "left behind: \(Scratch.contents(directory))")
        }
    }
}

/// Help, completion scripts, argv[0] dispatch and the RTS span, through the
/// built executables: no registry, skopeo, podman or Nix needed.
@Suite("Command line")
struct CommandLineTests {
    @Test(arguments: ["hocker", "hocker-manifest", "hocker-config", "hocker-layer", "hocker-image"])
    func helpExplains(_ tool: String) async throws {
        let result = try await HockerBinary.run(tool, ["--help"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("USAGE"))
        if tool != "hocker" { #expect(result.stdoutText.contains("Examples:")) }
    }

    @Test(arguments: ["hocker", "hocker-manifest", "hocker-config", "hocker-layer", "hocker-image", "docker2nix"])
    func versionIsPrinted(_ tool: String) async throws {
        let result = try await HockerBinary.run(tool, ["--version"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == HockerVersion.current + "\n")
        #expect(HockerVersion.current.split(separator: ".").count == 3)
    }

    /// What the second layer's digest attribute claims.
    enum BuilderClaim: String, Sendable, CaseIterable {
        case itsOwn, theFirstLayers, anUnknownOne
    }

    /// nix/'s docker-archive builder, run as Nix runs it (attributes in the
    /// environment): store paths are copied in and checked in one read, and a
    /// path whose digest is not the one claimed is refused, nothing written.
    @Test(.enabled(if: TestTools.path("tar") != nil || TestTools.requireIntegration(), "tar is not installed"), arguments: BuilderClaim.allCases)
    func nixBuilderChecksStorePaths(_ claim: BuilderClaim) async throws {
        let image = try await TestImageBuilder().build(
            tag: "v1", layers: [TestLayerSpec(seed: "builder-a", approximateSize: 40_000), TestLayerSpec(seed: "builder-b", approximateSize: 20_000)])
        defer { image.remove() }
        let directory = try Scratch.directory("nix-builder")
        defer { Scratch.remove(directory) }
        let manifest = image.manifests[0]
        func path(_ digest: String) -> String { "\(image.layoutPath)/blobs/sha256/\(digest.dropFirst("sha256:".count))" }
        var digests = manifest.layers.map(\.digest)
        switch claim {
        case .itsOwn: break
        case .theFirstLayers: digests[1] = manifest.layers[0].digest
        case .anUnknownOne: digests[1] = "sha256:" + String(repeating: "a", count: 64)
        }
        let out = "\(directory)/image.tar"
        let result = try await HockerBinary.run("hocker", ["nix-builder"], environment: [
            "hockerAction": "docker-archive", "out": out, "registry": "http://127.0.0.1:5000/v2/", "repository": "team/app", "tag": "v1",
            "configPath": path(manifest.configDigest), "configDigest": manifest.configDigest,
            "layerPaths": manifest.layers.map { path($0.digest) }.joined(separator: " "), "layerDigests": digests.joined(separator: " "),
        ])
        if claim == .itsOwn {
            #expect(result.status == 0, "\(result.stderrText)")
            try await ArchiveChecks.layersMatchDiffIDs(archive: out, configDigest: manifest.configDigest, layerDigests: manifest.layers.map(\.digest))
        } else {
            #expect(result.status == 1)
            #expect(result.stderrText.contains("its digest is \(manifest.layers[1].digest), the expression says \(digests[1])"), "\(result.stderrText)")
            #expect(Scratch.contents(directory).isEmpty, "left behind: \(Scratch.contents(directory))")
        }
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScripts(_ shell: String) async throws {
        let result = try await HockerBinary.run("hocker", ["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.contains("hocker"))
    }

    @Test func invokedUnderAnOldName() async throws {
        let directory = try Scratch.directory("argv0")
        defer { Scratch.remove(directory) }
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/hocker-layer", withDestinationPath: HockerBinary.path("hocker"))
        let result = try await runProcess("\(directory)/hocker-layer", ["--help"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("--layer"))
    }

    /// nixpkgs passes `+RTS -N$NIX_BUILD_CORES -RTS` to the Haskell tools:
    /// the span, wherever it is (and unclosed at the end), changes nothing.
    @Test func rtsSpanIsIgnoredAnywhere() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        let manifest = root + "/NixExpressionTests/Fixtures/manifest-debian_jessie.json"
        let golden = try String(contentsOfFile: root + "/NixExpressionTests/Fixtures/debian_jessie.nix", encoding: .utf8)
        let result = try await HockerBinary.run(
            "docker2nix", ["+RTS", "-N4", "-RTS", "--manifest", manifest, "library/debian", "+RTS", "-s", "-RTS", "jessie", "+RTS", "-N"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == golden)
        let withoutSpanEnd = try await HockerBinary.run("docker2nix", ["--manifest", manifest, "+RTS", "library/debian", "jessie"])
        #expect(withoutSpanEnd.status == 2, "an unclosed span runs to the end, taking the arguments: \(withoutSpanEnd.stderrText)")
    }
}
