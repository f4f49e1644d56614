import Foundation
import RegistryTestBed
import Testing

/// Runs the built hocker executables and checks what they write.
enum HockerBinary {
    /// A directory holding `hocker` and the old tool names as links to the
    /// built executable, as `scripts/install` lays them out (so every test
    /// of an old name goes through argv[0] dispatch), or `HOCKER_BIN_DIR`
    /// when set.
    static let directory: String = {
        if let override = ProcessInfo.processInfo.environment["HOCKER_BIN_DIR"] { return override }
        let built = builtExecutable
        let links = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-bin-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: links, withIntermediateDirectories: true)
        for tool in ["hocker", "hocker-manifest", "hocker-config", "hocker-layer", "hocker-image", "docker2nix"] {
            try? FileManager.default.createSymbolicLink(atPath: "\(links)/\(tool)", withDestinationPath: built)
        }
        return links
    }()

    /// The `hocker` the package built: beside the test bundle, else in `.build/debug`.
    static let builtExecutable: String = {
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var candidate = argv0.deletingLastPathComponent()
        // On Linux the runner is the .xctest binary itself; elsewhere it sits inside the bundle.
        while candidate.path != "/" && candidate.pathComponents.contains(where: { $0.hasSuffix(".xctest") }) {
            candidate = candidate.deletingLastPathComponent()
        }
        if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("hocker").path) {
            return candidate.appendingPathComponent("hocker").path
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/hocker").path
    }()

    static func path(_ tool: String) -> String { "\(directory)/\(tool)" }

    /// Runs `tool` with `arguments`; the environment is this process's plus
    /// `environment`, with HOME pointed at an empty directory so the
    /// machine's own auth files never leak into a test.
    static func run(
        _ tool: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, directory: String? = nil
    ) async throws -> ProcessResult {
        try await runProcess(
            path(tool), arguments, environment: isolatedEnvironment.merging(environment) { $1 }, stdin: stdin, timeout: .seconds(300),
            currentDirectory: directory)
    }

    /// No credentials, no cache, no CA variables (the system bundle), and a
    /// HOME with nothing in it.
    static var isolatedEnvironment: [String: String] {
        let home = Scratch.emptyHome
        var environment = ["HOME": home, "DOCKER_CONFIG": home + "/.docker", "XDG_RUNTIME_DIR": home, "XDG_CONFIG_HOME": home + "/.config"]
        for key in ["DOCKER_USER", "DOCKER_PASS", "DOCKER_TOKEN", "REGISTRY_AUTH_FILE", "HOCKER_CACHE", "NIX_SSL_CERT_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
            environment[key] = ""
        }
        return environment
    }
}

/// Temporary directories for test outputs.
enum Scratch {
    static let emptyHome: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-home-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A new empty directory, removed by the caller with `remove`.
    static func directory(_ label: String = "out") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-\(label)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// The names in a directory, hidden ones included.
    static func contents(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// Whether the integration tests can run: the tools are there, or
/// HOCKER_REQUIRE_INTEGRATION=1 says to run (and fail) without them.
enum Integration {
    static let tools = ["docker-registry", "skopeo", "podman", "htpasswd", "openssl", "tar", "gzip"]

    static var enabled: Bool {
        TestTools.missing(tools).isEmpty || TestTools.requireIntegration()
    }

    static var skipReason: Comment {
        "integration tools missing: \(TestTools.missing(tools).joined(separator: ", ")) (install them, or set HOCKER_REQUIRE_INTEGRATION=1 to fail instead of skipping)"
    }
}

/// Servers a suite starts once, shares among its tests, and stops after
/// them: the registries with pushed images, the fault proxies' registries,
/// the Nix tests' registries.
protocol SuiteFixture: AnyObject, Sendable {
    /// Starts the servers and prepares the images.
    static func start() async throws -> Self
    /// Stops the servers and removes what `start` made.
    func stop()
    /// The fixture of the running suite, bound by `SuiteFixtureTrait`.
    static var scope: TaskLocal<Self?> { get }
}

extension SuiteFixture {
    /// The fixture of the running suite.
    static var shared: Self {
        get throws { try #require(scope.get(), "the suite needs the trait that starts \(Self.self)") }
    }
}

/// Starts a fixture once for a suite (nested suites reuse it) and stops it after.
struct SuiteFixtureTrait<Fixture: SuiteFixture>: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard Fixture.scope.get() == nil else {
            try await function()
            return
        }
        let fixture = try await Fixture.start()
        do {
            try await Fixture.scope.withValue(fixture) { try await function() }
        } catch {
            await Self.stop(fixture)
            throw error
        }
        await Self.stop(fixture)
    }

    /// Stops the fixture on a thread of its own: stopping a daemon waits up
    /// to its grace period, which on the concurrency pool would stall every
    /// other test's tasks (and the deadlines they time).
    private static func stop(_ fixture: Fixture) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                fixture.stop()
                done.resume()
            }.start()
        }
    }
}

/// What a failed run printed on stderr: the retries it announced, then the
/// error line and its hints.
struct FailureOutput {
    /// `hocker: retrying in …` lines, in order.
    var retries: [String]
    /// The `hocker: error: …` line; empty when there is none.
    var errorLine: String
    /// Anything before the error line that is neither a retry nor a warning.
    var unexpected: [String]

    init(_ stderr: String) {
        let lines = stderr.split(separator: "\n").map(String.init)
        let errorIndex = lines.firstIndex { $0.hasPrefix("hocker: error: ") } ?? lines.endIndex
        let before = lines[..<errorIndex]
        retries = before.filter { $0.hasPrefix("hocker: retrying in ") }
        unexpected = before.filter { !$0.hasPrefix("hocker: retrying in ") && !$0.hasPrefix("hocker: warning: ") }
        errorLine = errorIndex < lines.endIndex ? lines[errorIndex] : ""
    }

    /// Whether stderr is retry notices (and warnings), then one error line.
    var isWellFormed: Bool { !errorLine.isEmpty && unexpected.isEmpty }
}
