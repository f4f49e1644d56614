import Foundation
@testable import ImageTrust
import ImageReference
import Testing

@Suite("signature formats and their checks")
struct SignaturePartsTests {
    @Test("armored keys are dearmored to the packets gpg --dearmor gives; binary keys pass through")
    func armor() throws {
        let armored = try FixtureFiles.bytes("public-key.gpg")
        let binary = try OpenPGPArmor.dearmor(armored)
        #expect(binary.first == 0x99)  // an old-format public key packet
        #expect(try OpenPGPArmor.dearmor(binary) == binary)
        let twice = try OpenPGPArmor.dearmor(armored + Array("\nsome text\n".utf8) + armored)
        #expect(twice == binary + binary)
        var damaged = String(decoding: armored, as: UTF8.self)
        let body = try #require(damaged.firstRange(of: "mQ"))
        damaged.replaceSubrange(body, with: "mR")
        #expect(throws: OpenPGPArmor.DecodingError.self) { try OpenPGPArmor.dearmor(Array(damaged.utf8)) }
    }

    struct StatusCase: Sendable, CustomTestStringConvertible {
        var name: String
        var status: String
        var exitStatus: Int32
        var expected: OpenPGPOutcome
        var testDescription: String { name }
    }

    /// Status lines as gpgv 2.2 prints them for the fixtures.
    static let statuses: [StatusCase] = [
        StatusCase(
            name: "good, by a subkey", status: """
                [GNUPG:] NEWSIG
                [GNUPG:] GOODSIG D75B3109B3BAAEAF c/image test key with subkey
                [GNUPG:] VALIDSIG 57D1D95BBC53BA0EAFF0718CD75B3109B3BAAEAF 2025-07-23 1753303215 0 4 0 1 8 00 B9F4CDB9FD8C475BFA340AC38D54A947EE396F36
                """, exitStatus: 0,
            expected: .good(content: [1], signingKey: "57D1D95BBC53BA0EAFF0718CD75B3109B3BAAEAF", primaryKey: "B9F4CDB9FD8C475BFA340AC38D54A947EE396F36")),
        StatusCase(
            name: "revoked subkey (gpgv exits 0)", status: """
                [GNUPG:] NEWSIG
                [GNUPG:] REVKEYSIG 3EF0F93A1F602997 c/image test key with a REVOKED subkey
                [GNUPG:] VALIDSIG 4D33404E00B470050709F3233EF0F93A1F602997 2025-07-23 1753303216 0 4 0 1 8 00 6D88C5A1993648A17B2BB0DC6B8499AF63388D63
                """, exitStatus: 0,
            expected: .revokedKey(primaryKey: "6D88C5A1993648A17B2BB0DC6B8499AF63388D63", signingKey: "4D33404E00B470050709F3233EF0F93A1F602997")),
        StatusCase(
            name: "expired signature", status: """
                [GNUPG:] NEWSIG
                [GNUPG:] EXPSIG E932F44B23E8DD43 skopeo testing key
                [GNUPG:] VALIDSIG 08CD26E446E2E95249B7A405E932F44B23E8DD43 2025-06-23 1750712458 1750759200 4 0 1 8 00 08CD26E446E2E95249B7A405E932F44B23E8DD43
                """, exitStatus: 1, expected: .expiredSignature(primaryKey: "08CD26E446E2E95249B7A405E932F44B23E8DD43")),
        StatusCase(
            name: "expired key", status: """
                [GNUPG:] NEWSIG
                [GNUPG:] EXPKEYSIG E932F44B23E8DD43 k
                [GNUPG:] VALIDSIG 08CD26E446E2E95249B7A405E932F44B23E8DD43 2025-06-23 1750712458 0 4 0 1 8 00 08CD26E446E2E95249B7A405E932F44B23E8DD43
                """, exitStatus: 0, expected: .expiredKey(primaryKey: "08CD26E446E2E95249B7A405E932F44B23E8DD43")),
        StatusCase(
            name: "bad", status: "[GNUPG:] NEWSIG\n[GNUPG:] BADSIG E932F44B23E8DD43 skopeo testing key\n", exitStatus: 1,
            expected: .badSignature(keyID: "E932F44B23E8DD43")),
        StatusCase(
            name: "unknown key", status: "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 5F9470E3BC6C3B55 1 8 00 1750785414 9 -\n[GNUPG:] NO_PUBKEY 5F9470E3BC6C3B55\n",
            exitStatus: 2, expected: .unknownKey(keyID: "5F9470E3BC6C3B55", fingerprint: nil)),
        StatusCase(
            name: "unknown key with its fingerprint", status: "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 5F9470E3BC6C3B55 22 8 00 1750785414 9 AAAABBBB\n",
            exitStatus: 2, expected: .unknownKey(keyID: "5F9470E3BC6C3B55", fingerprint: "AAAABBBB")),
        StatusCase(name: "literal data only", status: "[GNUPG:] PLAINTEXT 62 1458237591\n[GNUPG:] NODATA 4\n", exitStatus: 2,
            expected: .notSigned("no signature in the data (NODATA 4)")),
        StatusCase(
            name: "two signatures",
            status: "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG A k\n[GNUPG:] VALIDSIG A x\n[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG B k\n[GNUPG:] VALIDSIG B x\n",
            exitStatus: 0, expected: .multipleSignatures(2)),
        StatusCase(
            name: "good status, bad exit", status: "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG A k\n[GNUPG:] VALIDSIG A 2025 1 0 4 0 1 8 00 A\n", exitStatus: 2,
            expected: .failed("gpgv exited with status 2 after a good signature")),
    ]

    @Test("gpgv status lines", arguments: statuses)
    func gpgvStatus(_ row: StatusCase) {
        #expect(GPGVStatus.outcome(status: row.status, exitStatus: row.exitStatus, content: [1]) == row.expected)
    }

    struct PayloadCase: Sendable, CustomTestStringConvertible {
        var payload: String
        var kind: SignedClaims.Kind
        var accepted: Bool
        var testDescription: String { payload }
    }

    static let good = #""image":{"docker-manifest-digest":"sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55"},"identity":{"docker-reference":"a/b:c"}"#
    static let payloads: [PayloadCase] = [
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)},"optional":{}}"#, kind: .simpleSigning, accepted: true),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)},"optional":{"timestamp":1.5}}"#, kind: .simpleSigning, accepted: false),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)},"optional":null}"#, kind: .simpleSigning, accepted: false),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)}}"#, kind: .simpleSigning, accepted: false),
        PayloadCase(payload: #"{"critical":{"type":"cosign container image signature",\#(good)},"optional":null}"#, kind: .sigstore, accepted: true),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)},"optional":null}"#, kind: .sigstore, accepted: false),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good),"extra":1},"optional":{}}"#, kind: .simpleSigning, accepted: false),
        PayloadCase(
            payload: #"{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:xyz"},"identity":{"docker-reference":"a"}},"optional":{}}"#,
            kind: .simpleSigning, accepted: false),
        PayloadCase(payload: #"{"critical":{"type":"atomic container signature",\#(good)},"optional":{},"optional":{}}"#, kind: .simpleSigning, accepted: false),
    ]

    @Test("the signed payload is read as strictly as containers/image reads it", arguments: payloads)
    func payload(_ row: PayloadCase) {
        let result = SignedClaims.parse(Array(row.payload.utf8), kind: row.kind)
        if case .success = result { #expect(row.accepted) } else { #expect(!row.accepted) }
    }

    @Test("lookaside blobs: OpenPGP, \\0simple-signing, \\0sigstore-json, and nothing else")
    func blobs() throws {
        #expect(try SignatureBlob(parsing: try FixtureFiles.bytes("image.signature")) == .simpleSigning(try FixtureFiles.bytes("image.signature")))
        #expect(try SignatureBlob(parsing: [0] + Array("simple-signing\n".utf8) + [0xA3, 1]) == .simpleSigning([0xA3, 1]))
        guard case .sigstore(let signature) = try SignatureBlob(parsing: try FixtureFiles.bytes("dir-img-cosign-valid/signature-1")) else {
            Issue.record("not sigstore")
            return
        }
        #expect(signature.mediaType == SigstoreSignature.signatureMediaType)
        #expect(signature.annotations.keys.sorted() == [SigstoreSignature.signatureAnnotation])
        #expect(throws: SignatureFormatError.unrecognizedBlob("it is empty")) { try SignatureBlob(parsing: []) }
        #expect(throws: SignatureFormatError.unrecognizedBlob("unknown format starting with byte 0x3c")) { try SignatureBlob(parsing: Array("<html>".utf8)) }
        #expect(throws: SignatureFormatError.unrecognizedBlob(#"unknown format "other""#)) { try SignatureBlob(parsing: [0] + Array("other\n{}".utf8)) }
    }

    @Test("containers/image's Rekor SET test data: verified with rekor.pub, at integrated time 1670870899")
    func rekorSET() throws {
        let rekorKey = try SigstorePublicKey(pem: try FixtureFiles.bytes("rekor.pub"))
        let certificate = try SigningCertificate(pem: try FixtureFiles.bytes("rekor-cert"))
        let signature = Array(try #require(Data(base64Encoded: String(decoding: try FixtureFiles.bytes("rekor-sig"), as: UTF8.self))))
        let bundle = String(decoding: try FixtureFiles.bytes("rekor-set"), as: UTF8.self)
        let payload = try FixtureFiles.bytes("rekor-payload")
        let verified = RekorSET.verify(bundle: bundle, rekorKeys: [rekorKey], keyOrCertificateDER: certificate.der, signature: signature, payload: payload)
        #expect(try verified.get() == Date(timeIntervalSince1970: 1_670_870_899))
        let otherKey = try SigstorePublicKey(pem: try FixtureFiles.bytes("cosign.pub"))
        #expect(throws: RekorSETError.self) {
            try RekorSET.verify(bundle: bundle, rekorKeys: [otherKey], keyOrCertificateDER: certificate.der, signature: signature, payload: payload).get()
        }
        #expect(throws: RekorSETError.self) {
            try RekorSET.verify(bundle: bundle, rekorKeys: [rekorKey], keyOrCertificateDER: certificate.der, signature: signature, payload: [1]).get()
        }
        #expect(throws: RekorSETError.self) {
            try RekorSET.verify(bundle: "invalid", rekorKeys: [rekorKey], keyOrCertificateDER: certificate.der, signature: signature, payload: payload).get()
        }
    }

    @Test("containers/image's Fulcio certificate: chains to fulcio_v1.crt.pem at 1670870899, not at 18:48:17 or 18:58:19")
    func fulcioCertificate() async throws {
        let certificate = try SigningCertificate(pem: try FixtureFiles.bytes("fulcio-cert"))
        let roots = try #require(SigningCertificate.certificates(in: try FixtureFiles.bytes("fulcio_v1.crt.pem")))
        let chain = try #require(SigningCertificate.certificates(in: try FixtureFiles.bytes("fulcio-chain")))
        let intermediates = Array(chain.dropLast())
        #expect(await certificate.chainProblem(roots: roots, intermediates: intermediates, at: Date(timeIntervalSince1970: 1_670_870_899)) == nil)
        for outside in [1_670_870_897, 1_670_871_499] {
            #expect(await certificate.chainProblem(roots: roots, intermediates: intermediates, at: Date(timeIntervalSince1970: TimeInterval(outside))) != nil)
        }
        #expect(await certificate.chainProblem(roots: roots, intermediates: [], at: Date(timeIntervalSince1970: 1_670_870_899)) != nil)
        #expect(await certificate.chainProblem(roots: chain, intermediates: [], at: Date(timeIntervalSince1970: 1_670_870_899)) == nil)
        #expect(try certificate.oidcIssuer() == "https://github.com/login/oauth")
        #expect(certificate.emailAddresses == ["mitr@redhat.com"])
    }

    @Test("containers/image's PKI certificate: chains to pki_root_crts.pem through its chain or the policy's intermediates, not without both")
    func pkiCertificate() async throws {
        let certificate = try SigningCertificate(pem: try FixtureFiles.bytes("pki-cert"))
        let roots = try #require(SigningCertificate.certificates(in: try FixtureFiles.bytes("pki_root_crts.pem")))
        let intermediates = try #require(SigningCertificate.certificates(in: try FixtureFiles.bytes("pki_intermediate_crts.pem")))
        let chain = try #require(SigningCertificate.certificates(in: try FixtureFiles.bytes("pki-chain")))
        let now = Date(timeIntervalSince1970: 1_754_000_000)
        #expect(await certificate.chainProblem(roots: roots, intermediates: Array(chain.dropLast()), at: now) == nil)
        #expect(await certificate.chainProblem(roots: roots, intermediates: intermediates, at: now) == nil)
        #expect(await certificate.chainProblem(roots: roots, intermediates: [], at: now) != nil)
        #expect(certificate.emailAddresses == ["qiwan@redhat.com"])
        #expect(certificate.dnsNames == ["myhost.example.com"])
    }

    @Test("RFC 8785: members sorted by UTF-16, minimal escapes, integers")
    func canonicalJSON() throws {
        let value = try StrictJSON.parse(Array(#"{"b": 1, "a": {"é": "x\u0001\n\"/", "e": [true, null, -5]}, "\u20ac": 0}"#.utf8))
        let canonical = String(decoding: try #require(CanonicalJSON.serialize(value)), as: UTF8.self)
        #expect(canonical == #"{"a":{"e":[true,null,-5],"é":"x\u0001\n\"/"},"b":1,"€":0}"#)
        #expect(CanonicalJSON.serialize(try StrictJSON.parse(Array("1.5".utf8))) == nil)
    }

    @Test("the verdict's JSON shape is stable")
    func verdictJSON() throws {
        let digest = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let verdict = TrustVerdict(
            image: "docker.io/library/busybox:1", manifestDigest: digest, policyFile: "/etc/containers/policy.json", policySection: "default",
            requirements: [
                RequirementVerdict(
                    type: "signedBy",
                    proof: TrustProof(type: "signedBy", keyFingerprint: "08CD", signedIdentity: "busybox:1", signature: .lookaside("https://s/x/signature-1")),
                    refusals: []),
                RequirementVerdict(
                    type: "sigstoreSigned",
                    proof: TrustProof(type: "sigstoreSigned", certificateIdentity: "ci@example.com", certificateIssuer: "https://issuer", signature: .attachment(digest)),
                    refusals: [SignatureRefusal(signature: .referrer(digest), reason: .identityMismatch(signed: "a", expected: "b", rule: "matchExact"))]),
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(verdict), as: UTF8.self)
        #expect(json == """
            {"accepted":true,"image":"docker.io/library/busybox:1","manifestDigest":"sha256:\(digest.hex)","policyFile":"/etc/containers/policy.json",\
            "policySection":"default","requirements":[{"proof":{"keyFingerprint":"08CD","signature":{"kind":"lookaside","url":"https://s/x/signature-1"},\
            "signedIdentity":"busybox:1","type":"signedBy"},"refusals":[],"type":"signedBy"},{"proof":{"certificateIdentity":"ci@example.com",\
            "certificateIssuer":"https://issuer","signature":{"digest":"sha256:\(digest.hex)","kind":"attachment"},"type":"sigstoreSigned"},\
            "refusals":[{"code":"identityMismatch","message":"the signature is for a, which matchExact does not accept for b",\
            "reason":{"identityMismatch":{"expected":"b","rule":"matchExact","signed":"a"}},"signature":{"digest":"sha256:\(digest.hex)",\
            "kind":"referrer"}}],"type":"sigstoreSigned"}]}
            """)
        #expect(try JSONDecoder().decode(TrustVerdict.self, from: Data(json.utf8)) == verdict)
        #expect(verdict.proofs.count == 2)
    }
}
