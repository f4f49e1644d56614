import Foundation
import ImagePull
import ImageReference
import ImageTrust
import Testing

/// Which policy and registries.d files a run reads, and the keys the policy
/// names, read once: temporary directories stand in for /etc/containers and
/// the user's config, so no test reads the machine's own.
@Suite("Trust files")
struct TrustFilesTests {
    final class Tree {
        let root: String
        var system: String { "\(root)/system" }
        var user: String { "\(root)/config/containers" }
        var environment: [String: String] { ["XDG_CONFIG_HOME": "\(root)/config", "HOME": "\(root)/home", "PATH": "/usr/bin:/bin"] }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-trust-\(UUID().uuidString.prefix(8))").path
            for directory in [system, user, "\(root)/home"] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        }

        func write(_ text: String, to path: String) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        func load(policy: String? = nil, insecure: Bool = false, registriesD: String? = nil) throws -> TrustSettings {
            try TrustFiles.load(policy: policy, insecurePolicy: insecure, registriesD: registriesD, environment: environment, systemDirectory: system)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    static let reject = #"{"default": [{"type": "reject"}]}"#
    static let accept = #"{"default": [{"type": "insecureAcceptAnything"}]}"#

    @Test("the user's policy.json before the system's; neither: no policy, and where it looked")
    func policyOrder() throws {
        let tree = try Tree()
        guard case .absent(let searched) = try tree.load().policy else { Issue.record("expected no policy"); return }
        #expect(searched == ["\(tree.user)/policy.json", "\(tree.system)/policy.json"])
        try tree.write(Self.accept, to: "\(tree.system)/policy.json")
        #expect(try tree.load().policyFile?.file == "\(tree.system)/policy.json")
        try tree.write(Self.reject, to: "\(tree.user)/policy.json")
        #expect(try tree.load().policyFile?.defaultRequirements == [.reject])
        #expect(try tree.load(policy: "\(tree.system)/policy.json").policyFile?.defaultRequirements == [.insecureAcceptAnything])
    }

    @Test("--insecure-policy reads no file, not even one that does not parse")
    func insecureReadsNothing() throws {
        let tree = try Tree()
        try tree.write("{not json", to: "\(tree.user)/policy.json")
        guard case .insecure = try tree.load(insecure: true).policy else { Issue.record("expected --insecure-policy"); return }
        #expect(throws: TrustPolicyError.self) { try tree.load() }
    }

    @Test("a --policy or --registries.d that does not exist is a usage error naming it")
    func explicitMissing() throws {
        let tree = try Tree()
        #expect {
            try tree.load(policy: "\(tree.root)/nope.json")
        } throws: { error in
            (error as? TrustFileError)?.message == "policy file \(tree.root)/nope.json: No such file or directory" && (error as? TrustFileError)?.exitStatus == .usage
        }
        try tree.write(Self.reject, to: "\(tree.root)/p.json")
        #expect(throws: TrustFileError.self) { try tree.load(policy: "\(tree.root)/p.json", registriesD: "\(tree.root)/none.d") }
    }

    @Test("registries.d: the user's directory before the system's, its *.yaml files merged")
    func registriesDOrder() throws {
        let tree = try Tree()
        try tree.write(Self.reject, to: "\(tree.root)/p.json")
        try tree.write("default-docker:\n  lookaside: https://system.example/sigs\n", to: "\(tree.system)/registries.d/default.yaml")
        let image = try ImageReference(parsing: "registry.example/team/app:1")
        func lookaside() throws -> String {
            let settings = try tree.load(policy: "\(tree.root)/p.json")
            return settings.storage.sources(for: image, builtinLookaside: settings.builtinLookaside).lookaside
        }
        #expect(try lookaside() == "https://system.example/sigs")
        try tree.write("docker:\n  registry.example:\n    lookaside: https://user.example/sigs\n", to: "\(tree.user)/registries.d/user.yaml")
        try tree.write("ignored", to: "\(tree.user)/registries.d/README")
        #expect(try lookaside() == "https://user.example/sigs")
    }

    @Test("every key file the policy names is read once; one that cannot be read refuses only the requirement that needs it, saying why")
    func keyFiles() async throws {
        let tree = try Tree()
        try tree.write("key bytes", to: "\(tree.root)/present.gpg")
        try tree.write(#"""
            {"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "\#(tree.root)/missing.gpg"}],
             "transports": {"docker": {"registry.example": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "\#(tree.root)/present.gpg"}]}}}
            """#, to: "\(tree.root)/p.json")
        let settings = try tree.load(policy: "\(tree.root)/p.json")
        #expect(settings.keyFiles == ["\(tree.root)/present.gpg": Array("key bytes".utf8)])
        #expect(settings.unreadableKeyFiles["\(tree.root)/missing.gpg"] == "No such file or directory")

        let policy = try #require(settings.policyFile).requirements(for: try ImageReference(parsing: "other.example/app:1"))
        var evaluation = TrustEvaluation(
            policy: policy, image: try ImageReference(parsing: "other.example/app:1"), manifest: Array("{}".utf8), signatures: [], searched: [],
            keyFiles: settings.keyFiles, openPGP: settings.openPGP, now: settings.now)
        evaluation.unreadableKeyFiles = settings.unreadableKeyFiles
        let verdict = try await evaluation.verdict()
        #expect(verdict.requirements.first?.refusals.first?.reason == .keyUnusable(key: "\(tree.root)/missing.gpg", reason: "No such file or directory"))
    }

    @Test("the built-in lookaside: the user's data directory, XDG_DATA_HOME when set")
    func builtinLookaside() throws {
        let tree = try Tree()
        try tree.write(Self.reject, to: "\(tree.root)/p.json")
        var environment = tree.environment
        environment["XDG_DATA_HOME"] = "\(tree.root)/data"
        let settings = try TrustFiles.load(policy: "\(tree.root)/p.json", insecurePolicy: false, registriesD: nil, environment: environment, systemDirectory: tree.system)
        #expect(settings.builtinLookaside == (geteuid() == 0 ? "file:///var/lib/containers/sigstore" : "file://\(tree.root)/data/containers/sigstore"))
    }
}
