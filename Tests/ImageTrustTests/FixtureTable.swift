import ImageTrust

/// Every fixture with the verdict containers/image's tests give it
/// (`signature/policy_eval_signedby_test.go`, `policy_eval_sigstore_test.go`,
/// `mechanism_test.go`, `simple_test.go`, `fulcio_cert_test.go`), under the
/// same requirement and image name those tests use.
enum FixtureTable {
    static let gpgKey = KeySource.path("public-key.gpg")
    static let testImage = "testing/manifest:latest"
    static let cosignImage = "192.168.64.2:5000/cosign-signed-single-sample"

    /// Simple signing (GnuPG): whole images, then single signatures against image.manifest.json.
    static let gpg: [FixtureCase] = [
        FixtureCase("dir-img-valid", signedBy(gpgKey), image: testImage, manifest: "dir-img-valid/manifest.json", expected: .accepted(FixtureKeys.gpg)),
        FixtureCase(
            "dir-img-valid", signedBy(.paths(["public-key-2.gpg", "public-key-1.gpg"])), image: testImage, manifest: "dir-img-valid/manifest.json",
            note: "keyPaths, the key second", expected: .accepted(FixtureKeys.gpg)),
        FixtureCase(
            "dir-img-valid", signedBy(.data(armoredKey)), image: testImage, manifest: "dir-img-valid/manifest.json", note: "keyData",
            expected: .accepted(FixtureKeys.gpg)),
        FixtureCase(
            "dir-img-valid", signedBy(.data([])), image: testImage, manifest: "dir-img-valid/manifest.json", note: "keyData with no key",
            expected: .refused("keyUnusable")),
        FixtureCase(
            "dir-img-valid", signedBy(gpgKey), image: "testing/manifest:notlatest", manifest: "dir-img-valid/manifest.json", note: "as :notlatest",
            expected: .refused("identityMismatch")),
        FixtureCase(
            "dir-img-valid", signedBy(gpgKey, .exactReference("this/does-not:match")), image: testImage, manifest: "dir-img-valid/manifest.json",
            note: "exactReference elsewhere", expected: .refused("identityMismatch")),
        FixtureCase("dir-img-valid-2", signedBy(gpgKey), image: testImage, manifest: "dir-img-valid-2/manifest.json", expected: .accepted(FixtureKeys.gpg)),
        FixtureCase(
            "dir-img-valid-2", signedBy(gpgKey), image: "testing/manifest:notlatest", manifest: "dir-img-valid-2/manifest.json", note: "as :notlatest",
            expected: .refused("identityMismatch")),
        FixtureCase("dir-img-mixed", signedBy(gpgKey), image: testImage, manifest: "dir-img-mixed/manifest.json", expected: .accepted(FixtureKeys.gpg)),
        FixtureCase(
            "dir-img-modified-manifest", signedBy(gpgKey), image: testImage, manifest: "dir-img-modified-manifest/manifest.json",
            expected: .refused("digestMismatch")),
        FixtureCase(
            "dir-img-manifest-digest-error", signedBy(gpgKey), image: testImage, manifest: "dir-img-manifest-digest-error/manifest.json",
            expected: .refused("manifestUnreadable")),
        FixtureCase("dir-img-no-manifest", signedBy(gpgKey), image: testImage, manifest: nil, expected: .refused("digestMismatch")),
        FixtureCase("dir-img-unsigned", signedBy(gpgKey), image: testImage, manifest: "dir-img-unsigned/manifest.json", expected: .refused("noSignature")),
        FixtureCase(
            "dir-img-valid-subkey", signedBy(.path("public-key-with-subkey.gpg")), image: testImage, manifest: "dir-img-valid-subkey/manifest.json",
            expected: .accepted(FixtureKeys.gpgWithSubkey)),
    ] + signatures.map { name, key, expected in
        FixtureCase(
            name, signedBy(.path(key), .matchRepository), image: testImage, manifest: "image.manifest.json", note: key == "public-key.gpg" ? "" : key,
            expected: expected)
    }

    /// Single signatures of image.manifest.json, checked with matchRepository (their identities are `testing/manifest[:latest]`).
    static let signatures: [(String, String, ExpectedVerdict)] = [
        ("image.signature", "public-key.gpg", .accepted(FixtureKeys.gpg)),
        ("image.signature", "pubring.gpg", .accepted(FixtureKeys.gpg)),
        ("no-optional-fields.signature", "public-key.gpg", .accepted(FixtureKeys.gpg)),
        ("invalid-blob.signature", "public-key.gpg", .refused("invalidPayload")),
        ("invalid-blob.signature-v3", "public-key.gpg", .refused("invalidPayload")),
        ("invalid-reference.signature", "public-key.gpg", .refused("identityMismatch")),
        ("corrupt.signature", "public-key.gpg", .refused("badSignature")),
        ("corrupt.signature-v3", "public-key.gpg", .refused("badSignature")),
        ("expired.signature", "public-key.gpg", .refused("expiredSignature")),
        ("unknown-key.signature", "public-key.gpg", .refused("unknownKey")),
        ("unknown-key.signature-v3", "public-key.gpg", .refused("unknownKey")),
        ("unsigned-literal.signature", "public-key.gpg", .refused("notSigned")),
        // Not even read as a signature: it starts with an encrypted-session-key packet.
        ("unsigned-encrypted.signature", "public-key.gpg", .refused("malformedSignature")),
        ("subkey.signature", "public-key-with-subkey.gpg", .accepted(FixtureKeys.gpgWithSubkey)),
        ("subkey.signature-v3", "public-key-with-subkey.gpg", .accepted(FixtureKeys.gpgWithSubkey)),
        ("subkey-revoked.signature", "public-key-with-revoked-subkey.gpg", .refused("revokedKey")),
        ("subkey-revoked.signature-v3", "public-key-with-revoked-subkey.gpg", .refused("revokedKey")),
    ]

    /// public-key.gpg's bytes, for keyData.
    static var armoredKey: [UInt8] { (try? FixtureFiles.bytes("public-key.gpg")) ?? [] }

    static let cosignKey = KeySource.path("cosign.pub")

    /// Sigstore (cosign): keyed, keyed with Rekor, Fulcio with Rekor, PKI.
    static let sigstore: [FixtureCase] = [
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(cosignKey), image: cosignImage, manifest: "dir-img-cosign-valid/manifest.json",
            expected: .accepted(FixtureKeys.cosign)),
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(.paths(["cosign2.pub", "cosign.pub"])), image: cosignImage,
            manifest: "dir-img-cosign-valid/manifest.json", note: "keyPaths, the key second", expected: .accepted(FixtureKeys.cosign)),
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(cosignKey), image: "testing/manifest:notlatest", manifest: "dir-img-cosign-valid/manifest.json",
            note: "as testing/manifest", expected: .refused("identityMismatch")),
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(cosignKey, .matchExact), image: cosignImage, manifest: "dir-img-cosign-valid/manifest.json",
            note: "matchExact (cosign signs no tag)", expected: .refused("identityMismatch")),
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(cosignKey, .exactReference("this/does-not:match")), image: cosignImage,
            manifest: "dir-img-cosign-valid/manifest.json", note: "exactReference elsewhere", expected: .refused("identityMismatch")),
        FixtureCase(
            "dir-img-cosign-valid-2", sigstoreKeys(cosignKey), image: cosignImage, manifest: "dir-img-cosign-valid-2/manifest.json",
            expected: .accepted(FixtureKeys.cosign)),
        FixtureCase(
            "dir-img-cosign-valid-2", sigstoreKeys(cosignKey), image: "this/does-not:match", manifest: "dir-img-cosign-valid-2/manifest.json",
            note: "as this/does-not:match", expected: .refused("identityMismatch")),
        FixtureCase(
            "dir-img-cosign-mixed", sigstoreKeys(cosignKey), image: cosignImage, manifest: "dir-img-cosign-mixed/manifest.json",
            expected: .accepted(FixtureKeys.cosign)),
        FixtureCase(
            "dir-img-cosign-modified-manifest", sigstoreKeys(cosignKey), image: cosignImage, manifest: "dir-img-cosign-modified-manifest/manifest.json",
            expected: .refused("digestMismatch")),
        FixtureCase(
            "dir-img-cosign-manifest-digest-error", sigstoreKeys(cosignKey), image: cosignImage,
            manifest: "dir-img-cosign-manifest-digest-error/manifest.json", expected: .refused("manifestUnreadable")),
        FixtureCase("dir-img-cosign-no-manifest", sigstoreKeys(cosignKey), image: cosignImage, manifest: nil, expected: .refused("digestMismatch")),
        FixtureCase(
            "dir-img-cosign-other-attachment", sigstoreKeys(cosignKey), image: testImage, manifest: "dir-img-cosign-other-attachment/manifest.json",
            expected: .refused("noSignature")),
        FixtureCase(
            "dir-img-cosign-valid-with-tag", sigstoreKeys(cosignKey, .matchExact), image: "192.168.64.2:5000/skopeo-signed:tag",
            manifest: "dir-img-cosign-valid-with-tag/manifest.json", note: "matchExact", expected: .accepted(FixtureKeys.cosign)),
        FixtureCase(
            "dir-img-cosign-valid-with-tag", sigstoreKeys(cosignKey, .matchExact), image: "192.168.64.2:5000/skopeo-signed:othertag",
            manifest: "dir-img-cosign-valid-with-tag/manifest.json", note: "matchExact, as :othertag", expected: .refused("identityMismatch")),
        FixtureCase(
            "unknown-cosign-key.signature", sigstoreKeys(cosignKey), image: cosignImage, manifest: "dir-img-cosign-valid/manifest.json",
            expected: .refused("badSignature")),
        FixtureCase("dir-img-valid", sigstoreKeys(cosignKey), image: testImage, manifest: "dir-img-valid/manifest.json", note: "GnuPG signatures only",
            expected: .refused("noSignature")),
        FixtureCase(
            "dir-img-unsigned", sigstoreKeys(cosignKey), image: testImage, manifest: "dir-img-unsigned/manifest.json", note: "sigstoreSigned",
            expected: .refused("noSignature")),
        FixtureCase(
            "dir-img-cosign-valid", sigstoreKeys(.path("some-rsa-key.pub")), image: cosignImage, manifest: "dir-img-cosign-valid/manifest.json",
            note: "some-rsa-key.pub", expected: .refused("badSignature")),
        FixtureCase(
            "dir-img-cosign-key-rekor-valid", sigstoreKeys(.path("cosign2.pub"), rekor: .path("some-rsa-key.pub")),
            image: "192.168.64.2:5000/cosign-signed/key-1", manifest: "dir-img-cosign-key-rekor-valid/manifest.json",
            note: "Rekor key some-rsa-key.pub (not ECDSA)", expected: .refused("keyUnusable")),
        FixtureCase(
            "dir-img-cosign-key-rekor-valid", sigstoreKeys(.path("cosign2.pub"), rekor: .path("rekor.pub")), image: "192.168.64.2:5000/cosign-signed/key-1",
            manifest: "dir-img-cosign-key-rekor-valid/manifest.json", note: "cosign2.pub, rekor.pub", expected: .accepted(FixtureKeys.cosign2)),
        FixtureCase(
            "dir-img-cosign-key-rekor-valid", sigstoreKeys(.paths(["cosign.pub", "cosign2.pub"]), rekor: .paths(["cosign.pub", "rekor.pub"])),
            image: "192.168.64.2:5000/cosign-signed/key-1", manifest: "dir-img-cosign-key-rekor-valid/manifest.json", note: "two keys, two Rekor keys",
            expected: .accepted(FixtureKeys.cosign2)),
        FixtureCase(
            "dir-img-cosign-key-rekor-valid", sigstoreKeys(.path("cosign2.pub"), rekor: .path("cosign.pub")), image: "192.168.64.2:5000/cosign-signed/key-1",
            manifest: "dir-img-cosign-key-rekor-valid/manifest.json", note: "Rekor key cosign.pub", expected: .refused("rekorFailure")),
        FixtureCase(
            "dir-img-cosign-key-rekor-valid", sigstoreKeys(.path("cosign2.pub"), rekor: .path("rekor.pub")), image: "192.168.64.2:5000/cosign-signed/key-1",
            manifest: "dir-img-cosign-key-rekor-valid/manifest.json", note: "without the bundle", edit: without(SigstoreSignature.bundleAnnotation),
            expected: .refused("malformedSignature")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", expected: .accepted("mitr@redhat.com")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(email: "this-does-not-match@example.com"), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "another subjectEmail", expected: .refused("identityNotAllowed")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(issuer: "https://example.com"), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "another oidcIssuer", expected: .refused("issuerNotAllowed")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(rekor: "cosign.pub"), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "Rekor key cosign.pub", expected: .refused("rekorFailure")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "without the chain", edit: without(SigstoreSignature.chainAnnotation),
            expected: .refused("certificateChainFailure")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(ca: .path("fulcio-chain")), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "without the chain, the chain trusted",
            edit: without(SigstoreSignature.chainAnnotation), expected: .accepted("mitr@redhat.com")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "without the bundle", edit: without(SigstoreSignature.bundleAnnotation),
            expected: .refused("malformedSignature")),
        FixtureCase(
            "dir-img-cosign-fulcio-rekor-valid", fulcio(), image: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
            manifest: "dir-img-cosign-fulcio-rekor-valid/manifest.json", note: "without the certificate",
            edit: without(SigstoreSignature.certificateAnnotation), expected: .refused("malformedSignature")),
        FixtureCase(
            "dir-img-cosign-pki-valid", pki(intermediates: true), image: "localhost:5000/test", manifest: "dir-img-cosign-pki-valid/manifest.json",
            expected: .accepted("qiwan@redhat.com")),
        FixtureCase(
            "dir-img-cosign-pki-valid", pki(intermediates: true), image: "localhost:5000/test", manifest: "dir-img-cosign-pki-valid/manifest.json",
            note: "without the chain", edit: without(SigstoreSignature.chainAnnotation), expected: .accepted("qiwan@redhat.com")),
        FixtureCase(
            "dir-img-cosign-pki-valid", pki(intermediates: false), image: "localhost:5000/test", manifest: "dir-img-cosign-pki-valid/manifest.json",
            note: "without the chain or intermediates", edit: without(SigstoreSignature.chainAnnotation), expected: .refused("certificateChainFailure")),
        FixtureCase(
            "dir-img-cosign-pki-valid", pki(intermediates: true), image: "localhost:5000/test", manifest: "dir-img-cosign-pki-valid/manifest.json",
            note: "without the certificate", edit: without(SigstoreSignature.certificateAnnotation), expected: .refused("malformedSignature")),
    ]

    static func pki(intermediates: Bool) -> PolicyRequirement {
        .sigstoreSigned(
            SigstoreSignedRequirement(
                trust: .pki(
                    PKITrust(
                        roots: .path("pki_root_crts.pem"), intermediates: intermediates ? .path("pki_intermediate_crts.pem") : nil,
                        subjectEmail: "qiwan@redhat.com", subjectHostname: "myhost.example.com")), signedIdentity: .matchRepository))
    }
}
