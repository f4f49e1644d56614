import Foundation
import ImagePull
import ImageReference
import ImageTrust
import RegistryTestBed
import Testing

/// Signatures made by a real signer: an ed25519 key from `gpg
/// --quick-gen-key`, `skopeo standalone-sign`; hocker's verdict beside
/// `skopeo standalone-verify`'s.
@Suite(
    "skopeo's signatures",
    .enabled(
        if: TestTools.missing(["gpg", "gpgv", "skopeo"]).isEmpty || TestTools.requireIntegration(),
        "gpg, gpgv or skopeo is not installed (apt-get install gnupg gpgv skopeo)"))
struct SkopeoSignatureTests {
    /// A GnuPG home in a temporary directory with two new keys; the agent
    /// it starts is stopped and the directory removed by `close`.
    struct Signer {
        let directory: String
        var home: String { "\(directory)/gnupg" }
        var environment: [String: String] { ["GNUPGHOME": home, "HOME": directory] }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-signer-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: "\(directory)/gnupg", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for name in ["signer", "other"] {
                _ = try await runChecked("gpg", ["--batch", "--passphrase", "", "--quick-gen-key", "\(name) <\(name)@example.com>", "ed25519", "sign", "never"], environment: environment)
            }
        }

        func fingerprint(_ name: String) async throws -> String {
            let listing = try await runChecked("gpg", ["--with-colons", "--list-keys", "\(name)@example.com"], environment: environment).stdoutText
            return try #require(listing.split(separator: "\n").first { $0.hasPrefix("fpr:") }?.split(separator: ":", omittingEmptySubsequences: false)[9]).description
        }

        func exportedKey(_ name: String) async throws -> [UInt8] {
            Array(try await runChecked("gpg", ["--armor", "--export", "\(name)@example.com"], environment: environment).stdout)
        }

        func close() async {
            _ = try? await runProcess("gpgconf", ["--kill", "gpg-agent"], environment: environment)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        /// The reference the image is checked as.
        var image: String
        /// Whose key the policy trusts.
        var trusted: String
        /// Whether skopeo (and so hocker) accepts it.
        var accepted: Bool
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "the signed reference, the signer's key", image: "docker.io/library/busybox:1", trusted: "signer", accepted: true),
        Row(name: "another tag", image: "docker.io/library/busybox:2", trusted: "signer", accepted: false),
        Row(name: "the same digest under another repository", image: "docker.io/library/other:1", trusted: "signer", accepted: false),
        Row(name: "another key", image: "docker.io/library/busybox:1", trusted: "other", accepted: false),
    ]

    @Test("hocker's verdict is skopeo's", arguments: rows)
    func sameVerdict(_ row: Row) async throws {
        let signer = try await Signer()
        do {
            let manifest = try FixtureFiles.bytes("image.manifest.json")
            try Data(manifest).write(to: URL(fileURLWithPath: "\(signer.directory)/manifest.json"))
            let signingKey = try await signer.fingerprint("signer")
            _ = try await runChecked(
                "skopeo", ["standalone-sign", "-o", "\(signer.directory)/signature-1", "\(signer.directory)/manifest.json", "docker.io/library/busybox:1", signingKey],
                environment: signer.environment)
            let trustedKey = try await signer.fingerprint(row.trusted)
            let skopeo = try await runProcess(
                "skopeo", ["standalone-verify", "\(signer.directory)/manifest.json", row.image, trustedKey, "\(signer.directory)/signature-1"],
                environment: signer.environment)

            let policy = ApplicablePolicy(
                file: "policy.json", section: .policyDefault,
                requirements: [.signedBy(SignedByRequirement(keys: .data(try await signer.exportedKey(row.trusted)), signedIdentity: .matchExact))])
            let signature = try FixtureFiles.bytesAt("\(signer.directory)/signature-1")
            let verdict = try await TrustEvaluation(
                policy: policy, image: try ImageReference(parsing: row.image), manifest: manifest,
                signatures: [SignatureEvidence(location: .lookaside("signature-1"), lookasideBlob: signature)], searched: [], keyFiles: [:],
                openPGP: try GPGVVerifier(environment: ProcessInfo.processInfo.environment), now: Date()
            ).verdict()
            #expect(skopeo.succeeded == row.accepted, "skopeo: \(skopeo.stderrText)")
            #expect(verdict.accepted == skopeo.succeeded, "skopeo: \(skopeo.stderrText) hocker: \(verdict.requirements)")
            if verdict.accepted { #expect(verdict.proofs.first?.keyFingerprint == signingKey) }
        } catch {
            await signer.close()
            throw error
        }
        await signer.close()
    }
}

extension FixtureFiles {
    static func bytesAt(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Missing(name: path) }
        return Array(data)
    }
}
