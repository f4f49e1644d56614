import Foundation
import NixExpression
import RegistryTestBed
import Testing

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
