import Foundation
import ImagePull
import ImageReference
import ImageTrust
import RegistryTestBed
import Testing

/// The verdict containers/image's own tests give a fixture, and which kind of refusal.
enum ExpectedVerdict: Sendable, Equatable, CustomStringConvertible {
    /// Accepted; the key fingerprint or certificate identity in the proof.
    case accepted(String)
    /// Refused for this reason (the name of the ``TrustRefusal`` case).
    case refused(String)

    var description: String {
        switch self {
        case .accepted(let who): "accepted (\(who))"
        case .refused(let why): "refused (\(why))"
        }
    }
}

/// One row: a fixture, the requirement it is checked against, the image
/// name and manifest, and containers/image's verdict.
struct FixtureCase: Sendable, CustomTestStringConvertible {
    var fixture: String
    var requirement: PolicyRequirement
    var image: String
    /// A manifest under Fixtures/, or nil for none at all (an empty manifest).
    var manifest: String?
    /// Signature files (a `dir-img-*` directory, or one file); changed by `edit`.
    var signatures: String
    var edit: (@Sendable ([SignatureEvidence]) -> [SignatureEvidence])?
    var expected: ExpectedVerdict
    var note: String

    var testDescription: String { "\(fixture) \(note)" }

    init(
        _ fixture: String, _ requirement: PolicyRequirement, image: String, manifest: String?, signatures: String? = nil, note: String = "",
        edit: (@Sendable ([SignatureEvidence]) -> [SignatureEvidence])? = nil, expected: ExpectedVerdict
    ) {
        self.fixture = fixture
        self.requirement = requirement
        self.image = image
        self.manifest = manifest
        self.signatures = signatures ?? fixture
        self.edit = edit
        self.expected = expected
        self.note = note
    }

    func verdict(openPGP: any OpenPGPVerifier) async throws -> TrustVerdict {
        let policy = ApplicablePolicy(file: "test-policy.json", section: .policyDefault, requirements: [requirement])
        var signatures = try FixtureFiles.signatures(signatures)
        if let edit { signatures = edit(signatures) }
        let evaluation = TrustEvaluation(
            policy: policy, image: try ImageReference(parsing: image), manifest: try manifest.map(FixtureFiles.bytes) ?? [], signatures: signatures,
            searched: ["Fixtures/\(self.signatures)"], keyFiles: try FixtureFiles.keyFiles(for: policy), openPGP: openPGP,
            now: Date(timeIntervalSince1970: 1_754_000_000))
        return try await evaluation.verdict()
    }
}

/// What a verdict says, in ``ExpectedVerdict``'s terms.
func summary(_ verdict: TrustVerdict) -> ExpectedVerdict {
    if verdict.accepted, let proof = verdict.proofs.first {
        return .accepted(proof.certificateIdentity ?? proof.keyFingerprint ?? proof.type)
    }
    let reason = verdict.requirements.first { !$0.isAccepted }?.refusals.last?.reason
    return .refused(reason?.code ?? "?")
}

enum FixtureKeys {
    static let gpg = "08CD26E446E2E95249B7A405E932F44B23E8DD43"
    static let gpgWithSubkey = "B9F4CDB9FD8C475BFA340AC38D54A947EE396F36"
    /// SHA-256 of the DER SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER | sha256sum`).
    static let cosign = "SHA256:c87a79018f346cc02482448b77296b0bea143ef2ccab99b04776fb0f638f301f"
    static let cosign2 = "SHA256:5e7eb6c1e2e6db06470ae59ee8253b3dc4ce33beefb9a0cca06a371cfc0ebdfa"
}

func signedBy(_ keys: KeySource, _ identity: SignedIdentityRule = .matchExact) -> PolicyRequirement {
    .signedBy(SignedByRequirement(keyType: .gpgKeys, keys: keys, signedIdentity: identity))
}

func sigstoreKeys(_ keys: KeySource, rekor: KeySource? = nil, _ identity: SignedIdentityRule = .matchRepository) -> PolicyRequirement {
    .sigstoreSigned(SigstoreSignedRequirement(trust: .publicKeys(keys), rekorPublicKeys: rekor, signedIdentity: identity))
}

func fulcio(email: String = "mitr@redhat.com", issuer: String = "https://github.com/login/oauth", ca: KeySource = .path("fulcio_v1.crt.pem"), rekor: String = "rekor.pub")
    -> PolicyRequirement
{
    .sigstoreSigned(
        SigstoreSignedRequirement(
            trust: .fulcio(FulcioTrust(certificateAuthority: ca, oidcIssuer: issuer, subjectEmail: email)), rekorPublicKeys: .path(rekor),
            signedIdentity: .matchRepository))
}

/// The same signatures with one annotation removed.
func without(_ annotation: String) -> @Sendable ([SignatureEvidence]) -> [SignatureEvidence] {
    { signatures in
        signatures.map { evidence in
            guard case .sigstore(var signature) = evidence.content else { return evidence }
            signature.annotations[annotation] = nil
            return SignatureEvidence(location: evidence.location, content: .sigstore(signature))
        }
    }
}

@Suite("containers/image signature fixtures")
struct FixtureVerdictTests {
    static let gpgvAvailable = TestTools.path("gpgv") != nil || TestTools.requireIntegration()

    @Test(
        "simple signing (gpgv)", .enabled(if: gpgvAvailable, "gpgv is not installed (apt-get install gpgv)"),
        arguments: FixtureTable.gpg)
    func simpleSigning(_ row: FixtureCase) async throws {
        let verifier = try GPGVVerifier(environment: ProcessInfo.processInfo.environment)
        let verdict = try await row.verdict(openPGP: verifier)
        report(row, verdict)
        #expect(summary(verdict) == row.expected, "\(verdict.requirements)")
    }

    @Test("sigstore (cosign)", arguments: FixtureTable.sigstore)
    func sigstore(_ row: FixtureCase) async throws {
        let verdict = try await row.verdict(openPGP: NoOpenPGP())
        report(row, verdict)
        #expect(summary(verdict) == row.expected, "\(verdict.requirements)")
    }

    /// With HOCKER_TRUST_TABLE=1, prints `fixture | note | expected | hocker's` rows.
    func report(_ row: FixtureCase, _ verdict: TrustVerdict) {
        guard ProcessInfo.processInfo.environment["HOCKER_TRUST_TABLE"] == "1" else { return }
        print("TABLE| \(row.fixture) | \(row.note) | \(row.expected) | \(summary(verdict)) |")
    }
}

/// An OpenPGP verifier for tests that must not reach it.
struct NoOpenPGP: OpenPGPVerifier {
    struct Unexpected: Error {}
    func verify(message: [UInt8], keyring: [UInt8]) async throws -> OpenPGPOutcome { throw Unexpected() }
}
