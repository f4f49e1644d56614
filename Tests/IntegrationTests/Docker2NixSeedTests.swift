import Foundation
import NixExpression
import RegistryTestBed
import Testing

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
