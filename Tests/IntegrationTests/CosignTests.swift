import Foundation
import RegistryTestBed
import Testing

/// Cosign signatures read from a registry — the `sha256-<hex>.sig` tag and
/// OCI 1.1 referrers — by `hocker verify` under `sigstoreSigned` policies:
/// keyed (a key the test bed makes, signatures in cosign's format) and
/// keyless (containers/image's Fulcio and Rekor fixture, pushed as cosign
/// pushes it). The registry is the in-process one, which has the referrers
/// API; no tool is needed but the built hocker.
@Suite("Cosign signatures through a registry", .serialized)
struct CosignTests {
    /// containers/image's signature fixtures, as copied for the ImageTrust tests.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ImageTrustTests/Fixtures").path

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/\(name)"))
    }

    /// Where the signatures are: in the registry (`attachments`), or not read from it.
    enum Storage: String, Sendable {
        case tag, referrer, both
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var keyless: Bool
        var storage: Storage
        /// What the policy asks, beside the key or the Fulcio CA.
        var policy: Policy = .signer
        /// Whether registries.d turns on use-sigstore-attachments.
        var attachments = true
        /// Signs another digest than the image's (keyed cases only).
        var otherDigest = false
        var accepted: Bool
        var reason: String? = nil
        var testDescription: String { name }
    }

    enum Policy: Sendable {
        /// The signer's key, or the fixture's e-mail and issuer.
        case signer
        /// Another key (the fixture's cosign.pub), or another e-mail.
        case otherIdentity
        /// Another OIDC issuer (keyless).
        case otherIssuer
    }

    static let cases: [Case] = [
        Case(name: "keyed, the .sig tag", keyless: false, storage: .tag, accepted: true),
        Case(name: "keyed, a referrer", keyless: false, storage: .referrer, accepted: true),
        Case(name: "keyed, under the tag and as a referrer: one signature", keyless: false, storage: .both, accepted: true),
        Case(name: "keyed, another key in the policy", keyless: false, storage: .tag, policy: .otherIdentity, accepted: false, reason: "badSignature"),
        Case(name: "keyed, a signature of another digest", keyless: false, storage: .referrer, otherDigest: true, accepted: false, reason: "digestMismatch"),
        Case(name: "keyed, use-sigstore-attachments off", keyless: false, storage: .tag, attachments: false, accepted: false, reason: "noSignature"),
        Case(name: "keyless, the .sig tag", keyless: true, storage: .tag, accepted: true),
        Case(name: "keyless, a referrer", keyless: true, storage: .referrer, accepted: true),
        Case(name: "keyless, another e-mail in the policy", keyless: true, storage: .tag, policy: .otherIdentity, accepted: false, reason: "identityNotAllowed"),
        Case(name: "keyless, another OIDC issuer in the policy", keyless: true, storage: .referrer, policy: .otherIssuer, accepted: false, reason: "issuerNotAllowed"),
    ]

    struct Output: Decodable {
        struct Manifest: Decodable {
            struct Verdict: Decodable {
                struct Requirement: Decodable {
                    struct Proof: Decodable {
                        struct Location: Decodable {
                            var kind: String
                        }
                        var keyFingerprint: String?
                        var certificateIdentity: String?
                        var certificateIssuer: String?
                        var signature: Location?
                    }
                    struct Refusal: Decodable {
                        var code: String
                        var message: String
                    }
                    var proof: Proof?
                    var refusals: [Refusal]
                }
                var requirements: [Requirement]
            }
            var verdict: Verdict
        }
        var accepted: Bool
        var manifests: [Manifest]
    }

    @Test("hocker verify, keyed and keyless, tag and referrers", arguments: cases)
    func verify(_ row: Case) async throws {
        let registry = try await InProcessRegistry.start()
        let directory = try Scratch.directory("cosign")
        do {
            try await Self.check(row, registry: registry, directory: directory)
        } catch {
            await registry.stop()
            Scratch.remove(directory)
            throw error
        }
        await registry.stop()
        Scratch.remove(directory)
    }

    static func check(_ row: Case, registry: InProcessRegistry, directory: String) async throws {
        let key = CosignFixture.Key()
        let (reference, subject, layer) = try image(row, registry: registry, key: key)
        switch row.storage {
        case .tag:
            registry.push(artifact: CosignFixture.tagManifest([layer]), to: repository(row), tag: CosignFixture.tag(for: subject.digest))
        case .referrer:
            registry.push(artifact: CosignFixture.referrerManifest([layer], subject: subject), to: repository(row))
        case .both:
            registry.push(artifact: CosignFixture.tagManifest([layer]), to: repository(row), tag: CosignFixture.tag(for: subject.digest))
            registry.push(artifact: CosignFixture.referrerManifest([layer], subject: subject), to: repository(row))
        }
        try key.publicKeyPEM.write(toFile: "\(directory)/signer.pub", atomically: true, encoding: .utf8)
        try policy(row, registry: registry, directory: directory).write(toFile: "\(directory)/policy.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(directory)/registries.d", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/lookaside", withIntermediateDirectories: true)
        try """
            default-docker:
              lookaside: file://\(directory)/lookaside
              use-sigstore-attachments: \(row.attachments)

            """.write(toFile: "\(directory)/registries.d/default.yaml", atomically: true, encoding: .utf8)

        let result = try await HockerBinary.run(
            "hocker", ["verify", "--json", "--policy", "\(directory)/policy.json", "--registries.d", "\(directory)/registries.d", reference])
        let output = try JSONDecoder().decode(Output.self, from: result.stdout)
        let requirement = try #require(output.manifests.first?.verdict.requirements.first)
        print("| cosign \(row.name) | \(output.accepted ? "accept" : "refuse (\(requirement.refusals.first?.code ?? "?"))") |")
        #expect(output.accepted == row.accepted, "\(result.stdoutText)")
        #expect(result.status == (row.accepted ? 0 : 1), "\(result.stderrText)")
        if let reason = row.reason { #expect(requirement.refusals.map(\.code).contains(reason), "\(result.stdoutText)") }
        if !row.attachments { #expect(requirement.refusals.first?.message.contains("use-sigstore-attachments is not true") == true) }
        guard row.accepted, let proof = requirement.proof else { return }
        #expect(proof.signature?.kind == (row.storage == .referrer ? "referrer" : "attachment"))
        if row.keyless {
            #expect(proof.certificateIdentity == "mitr@redhat.com" && proof.certificateIssuer == "https://github.com/login/oauth")
        } else {
            #expect(proof.keyFingerprint == key.fingerprint)
        }
        // Found under the tag and as a referrer, a signature is read once.
        #expect(registry.requests(.blobGETs).filter { $0.path.hasSuffix(layer.payloadDigest) }.count == 1)
    }

    static func repository(_ row: Case) -> String { row.keyless ? "cosign-signed/fulcio-rekor-1" : "cosign/keyed" }

    /// The image pushed and its signature layer: the keyless fixture's
    /// manifest (named by digest, as it was signed), or an image the test
    /// bed builds and signs with `key` (named by its tag).
    static func image(_ row: Case, registry: InProcessRegistry, key: CosignFixture.Key) throws -> (String, FixtureBlob, CosignFixture.Layer) {
        if row.keyless {
            let manifest = FixtureBlob(try fixture("dir-img-cosign-fulcio-rekor-valid/manifest.json"), mediaType: "application/vnd.docker.distribution.manifest.v2+json")
            registry.putManifest(manifest, repository: repository(row), tag: "v1")
            let layer = try CosignFixture.layer(sigstoreJSON: try fixture("dir-img-cosign-fulcio-rekor-valid/signature-1"))
            return ("\(registry.host)/\(repository(row)):v1", manifest, layer)
        }
        let image = ImageFixture.build(seed: "cosign-keyed", layerSizes: [256])
        registry.push(image, to: repository(row), tags: ["v1"])
        let signed = row.otherDigest ? "sha256:" + String(repeating: "0", count: 64) : image.top.digest
        // cosign signs the repository's name, without the tag.
        let payload = CosignFixture.payload(manifestDigest: signed, reference: "\(registry.host)/\(repository(row))")
        return ("\(registry.host)/\(repository(row)):v1", image.top, try key.sign(payload))
    }

    /// The policy of `row`: sigstoreSigned by the test's key (or the
    /// fixture's other key), or keyless through the fixture's Fulcio CA and
    /// Rekor key. A cosign signature names a repository, not a tag, so the
    /// identity is matchRepository, or for the fixture, the repository it
    /// was made in (exactRepository).
    static func policy(_ row: Case, registry: InProcessRegistry, directory: String) -> String {
        guard row.keyless else {
            let path = row.policy == .signer ? "\(directory)/signer.pub" : "\(fixtures)/cosign.pub"
            return #"{"default": [{"type": "sigstoreSigned", "keyPath": "\#(path)", "signedIdentity": {"type": "matchRepository"}}]}"#
        }
        let email = row.policy == .otherIdentity ? "someone@example.com" : "mitr@redhat.com"
        let issuer = row.policy == .otherIssuer ? "https://accounts.example.com" : "https://github.com/login/oauth"
        return #"""
            {"default": [{"type": "sigstoreSigned",
              "fulcio": {"caPath": "\#(fixtures)/fulcio_v1.crt.pem", "oidcIssuer": "\#(issuer)", "subjectEmail": "\#(email)"},
              "rekorPublicKeyPath": "\#(fixtures)/rekor.pub",
              "signedIdentity": {"type": "exactRepository", "dockerRepository": "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"}}]}
            """#
    }
}

extension CosignFixture.Layer {
    /// `sha256:<hex>` of the payload: the signature layer's digest.
    var payloadDigest: String { FixtureBlob(payload, mediaType: CosignFixture.layerMediaType).digest }
}
