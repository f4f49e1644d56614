import Foundation
import RegistryTestBed
import Testing

/// Images signed by a real signer, started once for the signature suites:
/// a GnuPG home in a temporary directory with two ed25519 keys (`signer`,
/// `other`); a docker-registry; `skopeo copy --sign-by` writing
/// simple-signing signatures into a lookaside directory that registries.d
/// names as `lookaside-staging`, served over http by ``FileServer``; and
/// the policies the cases use, as files.
///
/// What is in the registry (one image, one manifest digest, ``digest``):
/// - `team/app:v1`, signed by `signer` as `HOST/team/app:v1`; `team/app:v2`, the same manifest;
/// - `team/unsigned:v1`, no signature;
/// - `other/app:v1` and `mirror/app:v1`, each with a copy of `team/app:v1`'s signature;
/// - `team/two:v1`, signed by `other` (signature-1), then by `signer` (signature-2).
final class SignatureFixture: SuiteFixture {
    let directory: String
    let registry: TestRegistry
    let lookaside: FileServer
    let image: TestImage
    /// The manifest digest every repository serves.
    let digest: String
    /// Fingerprints by key name.
    let fingerprints: [String: String]
    /// `--registries.d` for hocker and skopeo.
    var registriesD: String { "\(directory)/registries.d" }
    var gnupgHome: String { "\(directory)/gnupg" }
    var host: String { registry.hostPort }

    static let tools = ["docker-registry", "skopeo", "gpg", "gpgv", "gpgconf"]
    static var enabled: Bool { TestTools.missing(tools).isEmpty || TestTools.requireIntegration() }
    static var skipReason: Comment { "needs \(TestTools.missing(tools).joined(separator: ", ")) (apt-get install docker-registry skopeo gnupg gpgv)" }

    private init(directory: String, registry: TestRegistry, lookaside: FileServer, image: TestImage, digest: String, fingerprints: [String: String]) {
        self.directory = directory
        self.registry = registry
        self.lookaside = lookaside
        self.image = image
        self.digest = digest
        self.fingerprints = fingerprints
    }

    /// The environment gpg and skopeo run in: the GnuPG home and HOME inside the fixture's directory.
    static func environment(_ directory: String) -> [String: String] {
        ["GNUPGHOME": "\(directory)/gnupg", "HOME": "\(directory)/home", "XDG_CONFIG_HOME": "\(directory)/home/.config"]
    }
    var environment: [String: String] { Self.environment(directory) }

    static func start() async throws -> SignatureFixture {
        let directory = try Scratch.directory("signatures")
        for sub in ["gnupg", "home", "lookaside", "registries.d", "keys", "policies"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let environment = environment(directory)
        var fingerprints: [String: String] = [:]
        for name in ["signer", "other"] {
            _ = try await runChecked(
                "gpg", ["--batch", "--passphrase", "", "--quick-gen-key", "\(name) <\(name)@example.com>", "ed25519", "sign", "never"],
                environment: environment)
            let listing = try await runChecked("gpg", ["--with-colons", "--list-keys", "\(name)@example.com"], environment: environment).stdoutText
            fingerprints[name] = listing.split(separator: "\n").first { $0.hasPrefix("fpr:") }?.split(separator: ":", omittingEmptySubsequences: false)[9].description
            _ = try await runChecked("gpg", ["--output", "\(directory)/keys/\(name).gpg", "--export", "\(name)@example.com"], environment: environment)
        }
        let lookaside = try await FileServer.start(root: "\(directory)/lookaside")
        try """
            default-docker:
              lookaside: \(lookaside.baseURL)
              lookaside-staging: file://\(directory)/lookaside

            """.write(toFile: "\(directory)/registries.d/default.yaml", atomically: true, encoding: .utf8)
        let registry = try await TestRegistry.start()
        let image = try await TestImageBuilder(directory: directory).build(tag: "v1", layers: [TestLayerSpec(seed: "signed", approximateSize: 4096)])
        let fixture = SignatureFixture(
            directory: directory, registry: registry, lookaside: lookaside, image: image, digest: image.single.manifestDigest, fingerprints: fingerprints)
        do {
            try await fixture.populate()
        } catch {
            fixture.stop()
            throw error
        }
        return fixture
    }

    /// Pushes the repositories and writes their signatures.
    private func populate() async throws {
        try await copy(to: "team/app:v1", signBy: "signer")
        for target in ["team/app:v2", "team/unsigned:v1", "other/app:v1", "mirror/app:v1", "team/two:v1"] { try await copy(to: target) }
        let signature = try Data(contentsOf: URL(fileURLWithPath: signaturePath("team/app", 1)))
        for repository in ["other/app", "mirror/app"] { try write(signature, to: signaturePath(repository, 1)) }
        try write(try await standaloneSign(reference: "\(host)/team/two:v1", key: "other"), to: signaturePath("team/two", 1))
        try write(try await standaloneSign(reference: "\(host)/team/two:v1", key: "signer"), to: signaturePath("team/two", 2))
        for (name, policy) in policies { try policy.write(toFile: policyPath(name), atomically: true, encoding: .utf8) }
    }

    /// `skopeo copy --preserve-digests` of the image to `target` in the registry, signed by `key` when given.
    func copy(to target: String, signBy key: String? = nil, from source: String? = nil) async throws {
        var arguments = ["--policy", policyPath("accept"), "--registries.d", registriesD, "copy", "--preserve-digests", "--dest-tls-verify=false"]
        if let key { arguments += ["--sign-by", fingerprints[key] ?? key] }
        try "{\"default\": [{\"type\": \"insecureAcceptAnything\"}]}".write(toFile: policyPath("accept"), atomically: true, encoding: .utf8)
        arguments += [source ?? image.ociReference, "docker://\(host)/\(target)"]
        _ = try await runChecked("skopeo", arguments, environment: environment)
    }

    /// A simple-signing signature of the image's manifest claiming `reference`, by `key`.
    func standaloneSign(reference: String, key: String, manifest: Data? = nil) async throws -> Data {
        let manifestPath = "\(directory)/manifest-\(UUID().uuidString.prefix(8)).json"
        let output = manifestPath + ".signature"
        try (manifest ?? image.single.manifestBytes).write(to: URL(fileURLWithPath: manifestPath))
        defer {
            try? FileManager.default.removeItem(atPath: manifestPath)
            try? FileManager.default.removeItem(atPath: output)
        }
        _ = try await runChecked(
            "skopeo", ["standalone-sign", "-o", output, manifestPath, reference, fingerprints[key] ?? key], environment: environment)
        return try Data(contentsOf: URL(fileURLWithPath: output))
    }

    /// Where signature `index` of `repository`'s manifest `digest` is in the lookaside directory.
    func signaturePath(_ repository: String, _ index: Int, digest: String? = nil) -> String {
        "\(directory)/lookaside/\(repository)@\((digest ?? self.digest).replacingOccurrences(of: ":", with: "="))/signature-\(index)"
    }

    func write(_ data: Data, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    func policyPath(_ name: String) -> String { "\(directory)/policies/\(name).json" }
    func keyPath(_ name: String) -> String { "\(directory)/keys/\(name).gpg" }

    /// `signedBy` the key `name`, with `signedIdentity` when given.
    func signedBy(_ name: String, identity: String? = nil) -> String {
        #"{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "\#(keyPath(name))"\#(identity.map { ", \"signedIdentity\": \($0)" } ?? "")}"#
    }

    /// The policies of the cases, by name.
    var policies: [String: String] {
        [
            "signer": #"{"default": [{"type": "reject"}], "transports": {"docker": {"\#(host)": [\#(signedBy("signer"))]}}}"#,
            "other": #"{"default": [{"type": "reject"}], "transports": {"docker": {"\#(host)": [\#(signedBy("other"))]}}}"#,
            "reject": #"{"default": [{"type": "reject"}]}"#,
            "accept": #"{"default": [{"type": "insecureAcceptAnything"}]}"#,
            // The host rejects; one repository under it says what it needs.
            "scoped": #"{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"\#(host)": [{"type": "reject"}], "\#(host)/team/app": [\#(signedBy("signer"))]}}}"#,
            "matchRepository": #"{"default": [{"type": "reject"}], "transports": {"docker": {"\#(host)": [\#(signedBy("signer", identity: #"{"type": "matchRepository"}"#))]}}}"#,
            "remapIdentity": #"{"default": [{"type": "reject"}], "transports": {"docker": {"\#(host)": [\#(signedBy("signer", identity: #"{"type": "remapIdentity", "prefix": "\#(host)/mirror", "signedPrefix": "\#(host)/team"}"#))]}}}"#,
        ]
    }

    func stop() {
        registry.stop()
        lookaside.stopWithoutWaiting()
        // The agent gpg started is stopped, then everything the fixture made goes.
        if let gpgconf = TestTools.path("gpgconf") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: gpgconf)
            process.arguments = ["--kill", "gpg-agent"]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            if (try? process.run()) != nil { process.waitUntilExit() }
        }
        Scratch.remove(directory)
    }

    @TaskLocal static var current: SignatureFixture?
    static var scope: TaskLocal<SignatureFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<SignatureFixture> {
    /// A registry with signed images, their lookaside over http, and policies.
    static var signedImages: Self { Self() }
}

/// The suites that share one ``SignatureFixture``.
@Suite("Signatures", .serialized, .signedImages, .enabled(if: SignatureFixture.enabled, SignatureFixture.skipReason))
struct SignatureSuites {}
