import ImageReference
import ImageTrust
import Testing

@Suite("containers-policy.json parsing")
struct PolicyParsingTests {
    static func parse(_ text: String) throws(TrustPolicyError) -> TrustPolicy {
        try TrustPolicy(parsing: Array(text.utf8), file: "/etc/containers/policy.json")
    }

    static func requirement(_ json: String) throws -> PolicyRequirement {
        try #require(try parse(#"{"default": [\#(json)]}"#).defaultRequirements.first)
    }

    @Test("containers/image's example policy.json parses to what its tests expect")
    func fixturePolicy() throws {
        let policy = try TrustPolicy(parsing: try FixtureFiles.bytes("policy.json"), file: "policy.json")
        #expect(policy.defaultRequirements == [.reject])
        #expect(policy.transports["dir"]?[""] == [.insecureAcceptAnything])
        let docker = try #require(policy.transports["docker"])
        #expect(docker.count == 14)
        #expect(docker["example.com/playground"] == [.insecureAcceptAnything])
        #expect(docker["example.com/production"] == [.signedBy(SignedByRequirement(keys: .path("/keys/employee-gpg-keyring")))])
        #expect(
            docker["example.com/hardened"] == [
                .signedBy(SignedByRequirement(keys: .path("/keys/employee-gpg-keyring"), signedIdentity: .matchRepository)),
                .signedBy(SignedByRequirement(keyType: .signedByGPGKeys, keys: .path("/keys/public-key-signing-gpg-keyring"), signedIdentity: .matchExact)),
                .signedBaseLayer(baseLayerIdentity: .exactRepository("registry.access.redhat.com/rhel7/rhel")),
            ])
        #expect(
            docker["registry.redhat.io/beta"] == [
                .signedBy(SignedByRequirement(keys: .paths(["/keys/RH-production-signing-key-gpg-keyring", "/keys/RH-beta-signing-key-gpg-keyring"])))
            ])
        #expect(
            docker["private-mirror:5000/vendor-mirror"] == [
                .signedBy(
                    SignedByRequirement(
                        keys: .path("/keys/vendor-gpg-keyring"),
                        signedIdentity: .remapIdentity(prefix: "private-mirror:5000/vendor-mirror", signedPrefix: "vendor.example.com")))
            ])
        #expect(docker["bogus/key-data-example"] == [.signedBy(SignedByRequirement(keyType: .signedByGPGKeys, keys: .data(Array("nonsense".utf8))))])
        #expect(
            docker["example.com/sigstore/key-path-example"] == [
                .sigstoreSigned(SigstoreSignedRequirement(trust: .publicKeys(.path("/keys/public-key")), signedIdentity: .matchRepository))
            ])
        #expect(policy.requirements(for: try ImageReference(parsing: "example.com/hardened/x:1")).filesToRead == [
            "/keys/employee-gpg-keyring", "/keys/public-key-signing-gpg-keyring",
        ])
    }

    struct Valid: Sendable, CustomTestStringConvertible {
        var json: String
        var expected: PolicyRequirement
        var testDescription: String { json }
    }

    static let valid: [Valid] = [
        Valid(json: #"{"type": "insecureAcceptAnything"}"#, expected: .insecureAcceptAnything),
        Valid(json: #"{"type": "reject"}"#, expected: .reject),
        Valid(
            json: #"{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}"#,
            expected: .signedBy(SignedByRequirement(keys: .path("/k.gpg"), signedIdentity: .matchRepoDigestOrExact))),
        Valid(
            json: #"{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "/b"], "signedIdentity": {"type": "matchExact"}}"#,
            expected: .signedBy(SignedByRequirement(keys: .paths(["/a", "/b"]), signedIdentity: .matchExact))),
        Valid(
            json: #"{"type": "signedBy", "keyType": "GPGKeys", "keyData": "YWJj", "signedIdentity": {"type": "exactReference", "dockerReference": "busybox:1"}}"#,
            expected: .signedBy(SignedByRequirement(keys: .data(Array("abc".utf8)), signedIdentity: .exactReference("busybox:1")))),
        Valid(
            json: #"{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "exactRepository", "dockerRepository": "quay.io/a/b"}}"#,
            expected: .signedBy(SignedByRequirement(keys: .path("/k"), signedIdentity: .exactRepository("quay.io/a/b")))),
        Valid(
            json: #"{"type": "sigstoreSigned", "keyDatas": ["YQ==", "Yg=="], "rekorPublicKeyPaths": ["/r1", "/r2"]}"#,
            expected: .sigstoreSigned(SigstoreSignedRequirement(trust: .publicKeys(.datas([[97], [98]])), rekorPublicKeys: .paths(["/r1", "/r2"])))),
        Valid(
            json: #"""
                {"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem", "oidcIssuer": "https://token.actions.githubusercontent.com",
                 "subjectEmail": "ci@example.com"}, "rekorPublicKeyPath": "/rekor.pub", "signedIdentity": {"type": "matchRepository"}}
                """#,
            expected: .sigstoreSigned(
                SigstoreSignedRequirement(
                    trust: .fulcio(
                        FulcioTrust(certificateAuthority: .path("/ca.pem"), oidcIssuer: "https://token.actions.githubusercontent.com", subjectEmail: "ci@example.com")),
                    rekorPublicKeys: .path("/rekor.pub"), signedIdentity: .matchRepository))),
        Valid(
            json: #"{"type": "sigstoreSigned", "pki": {"caRootsPath": "/roots.pem", "subjectHostname": "build.example.com"}}"#,
            expected: .sigstoreSigned(SigstoreSignedRequirement(trust: .pki(PKITrust(roots: .path("/roots.pem"), subjectHostname: "build.example.com"))))),
        Valid(
            json: #"{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "exactRepository", "dockerRepository": "rhel7/rhel"}}"#,
            expected: .signedBaseLayer(baseLayerIdentity: .exactRepository("rhel7/rhel"))),
        Valid(
            json: #"{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "mirror.local:5000/vendor", "signedPrefix": "vendor.example.com"}}"#,
            expected: .signedBy(
                SignedByRequirement(keys: .path("/k"), signedIdentity: .remapIdentity(prefix: "mirror.local:5000/vendor", signedPrefix: "vendor.example.com")))),
    ]

    @Test("valid requirements", arguments: valid)
    func validRequirement(_ row: Valid) throws {
        #expect(try Self.requirement(row.json) == row.expected)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var document: String
        var key: String
        var problem: TrustPolicyError.Problem
        var testDescription: String { document }
    }

    static let invalid: [Invalid] = [
        Invalid(document: "not json", key: "", problem: .notJSON("invalid literal at byte 0")),
        Invalid(document: #"{"default": [{"type": "reject"}],}"#, key: "", problem: .notJSON("expected a string key at byte 33")),
        Invalid(document: #"{"default": [{"type": "reject", "type": "reject"}]}"#, key: "", problem: .notJSON(#"duplicate key "type" at byte 32"#)),
        Invalid(document: "{}", key: "default", problem: .missing),
        Invalid(document: #"{"default": {}}"#, key: "default", problem: .wrongType(expected: "an array of requirements", found: "an object")),
        Invalid(document: #"{"default": []}"#, key: "default", problem: .invalid("a list of requirements must not be empty")),
        Invalid(document: #"{"default": [{"type": "reject"}], "defaults": []}"#, key: "defaults", problem: .unknownKey),
        Invalid(document: #"{"default": [{"type": "rejected"}]}"#, key: "default[0].type", problem: .unknownType("rejected")),
        Invalid(document: #"{"default": [{}]}"#, key: "default[0].type", problem: .missing),
        Invalid(document: #"{"default": [{"type": "reject", "keyPath": "/k"}]}"#, key: "default[0].keyPath", problem: .unknownKey),
        Invalid(document: #"{"default": [{"type": "signedBy", "keyPath": "/k"}]}"#, key: "default[0].keyType", problem: .missing),
        Invalid(document: #"{"default": [{"type": "signedBy", "keyType": "GPGKey", "keyPath": "/k"}]}"#, key: "default[0].keyType", problem: .unknownType("GPGKey")),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "keyData": "YQ=="}]}"#, key: "default[0].keyData",
            problem: .invalid("keyPath and keyData cannot be used together")),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#, key: "default[0].keyPath",
            problem: .invalid("exactly one of keyPath, keyPaths and keyData must be given; none is")),
        Invalid(document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "!!"}]}"#, key: "default[0].keyData", problem: .invalid("not base64")),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", 1]}]}"#, key: "default[0].keyPaths[1]",
            problem: .wrongType(expected: "a string", found: "a number")),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "matchEverything"}}]}"#,
            key: "default[0].signedIdentity.type", problem: .unknownType("matchEverything")),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "matchExact", "x": 1}}]}"#,
            key: "default[0].signedIdentity.x", problem: .unknownKey),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "exactReference", "dockerReference": "busybox"}}]}"#,
            key: "default[0].signedIdentity.dockerReference", problem: .invalid(#""busybox" names neither a tag nor a digest"#)),
        Invalid(
            document: #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "a b", "signedPrefix": "x.io"}}]}"#,
            key: "default[0].signedIdentity.prefix",
            problem: .invalid(#""a b": it is neither a registry host nor a host followed by a repository path"#)),
        Invalid(
            document: #"{"default": [{"type": "reject"}], "transports": {"docker": {"example.com": [{"type": "signedBy", "keyType": "GPGKeys", "keyPth": "/k"}]}}}"#,
            key: #"transports.docker["example.com"][0].keyPth"#, problem: .unknownKey),
        Invalid(
            document: #"{"default": [{"type": "reject"}], "transports": {"docker": []}}"#, key: "transports.docker",
            problem: .wrongType(expected: "an object", found: "an array")),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca", "oidcIssuer": "https://i", "subjectEmail": "a@b"}}]}"#,
            key: "default[0].rekorPublicKeyPath", problem: .invalid("a Rekor public key must be given with fulcio")),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "fulcio": {"caPath": "/ca", "oidcIssuer": "https://i", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/r"}]}"#,
            key: "default[0]", problem: .invalid("exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given; public keys and fulcio are given")),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "pki": {"caRootsPath": "/r", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/r"}]}"#,
            key: "default[0].rekorPublicKeyPath", problem: .invalid("Rekor public keys are not used with pki")),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "fulcio": {"caPth": "/ca"}, "rekorPublicKeyPath": "/r"}]}"#, key: "default[0].fulcio.caPth",
            problem: .unknownKey),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/r"}]}"#,
            key: "default[0].fulcio.oidcIssuer", problem: .missing),
        Invalid(document: #"{"default": [{"type": "sigstoreSigned", "keyPaths": []}]}"#, key: "default[0].keyPaths", problem: .invalid("contains no entries")),
        Invalid(
            document: #"{"default": [{"type": "sigstoreSigned", "pki": {"caRootsPath": "/r"}}]}"#, key: "default[0].pki.subjectEmail",
            problem: .invalid("at least one of subjectEmail and subjectHostname must be given")),
    ]

    @Test("invalid documents name the file and the key", arguments: invalid)
    func invalidDocument(_ row: Invalid) {
        #expect(throws: TrustPolicyError(file: "/etc/containers/policy.json", key: row.key, problem: row.problem)) {
            try Self.parse(row.document)
        }
    }

    @Test("the message names the file, the key and the problem; the exit status says the input is at fault")
    func message() {
        let error = TrustPolicyError(file: "/etc/containers/policy.json", key: "default[0].keyType", problem: .unknownType("GPGKey"))
        #expect(error.message == #"policy file /etc/containers/policy.json, default[0].keyType: unknown type "GPGKey""#)
        #expect(error.exitStatus == .usage)
    }

    @Test("transports other than docker are parsed and checked, and unknown transports kept (as containers/image does)")
    func otherTransports() throws {
        let policy = try Self.parse(#"{"default": [{"type": "reject"}], "transports": {"atomic": {"x": [{"type": "reject"}]}, "unknown": {"": [{"type": "insecureAcceptAnything"}]}}}"#)
        #expect(policy.transports["unknown"]?[""] == [.insecureAcceptAnything])
        #expect(throws: TrustPolicyError.self) {
            try Self.parse(#"{"default": [{"type": "reject"}], "transports": {"oci": {"": [{"type": "nope"}]}}}"#)
        }
    }
}
