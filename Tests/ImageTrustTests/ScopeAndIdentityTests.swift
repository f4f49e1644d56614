import ImageReference
import ImageTrust
import Testing

@Suite("policy scopes and signedIdentity")
struct ScopeAndIdentityTests {
    @Test("the scopes an image is looked up under, most specific first")
    func candidates() throws {
        #expect(
            PolicyScope.candidates(for: try ImageReference(parsing: "registry.example.com:5000/ns/sub/app:v1")) == [
                "registry.example.com:5000/ns/sub/app:v1", "registry.example.com:5000/ns/sub/app", "registry.example.com:5000/ns/sub",
                "registry.example.com:5000/ns", "registry.example.com:5000", "*.example.com", "*.com",
            ])
        #expect(
            PolicyScope.candidates(for: try ImageReference(parsing: "busybox")) == [
                "docker.io/library/busybox:latest", "docker.io/library/busybox", "docker.io/library", "docker.io", "*.io",
            ])
        let digest = "sha256:" + String(repeating: "a", count: 64)
        #expect(PolicyScope.candidates(for: try ImageReference(parsing: "quay.io/a/b@\(digest)")).first == "quay.io/a/b@\(digest)")
    }

    struct ScopeCase: Sendable, CustomTestStringConvertible {
        var image: String
        var section: ApplicablePolicy.Section
        var testDescription: String { image }
    }

    /// Against containers/image's example policy.json.
    static let fixtureScopes: [ScopeCase] = [
        ScopeCase(image: "example.com/playground/app:1", section: .scope("example.com/playground")),
        ScopeCase(image: "example.com/production/app", section: .scope("example.com/production")),
        ScopeCase(image: "example.com/hardened/app", section: .scope("example.com/hardened")),
        ScopeCase(image: "example.com/other/app", section: .scope("*.com")),
        ScopeCase(image: "example.com:5000/other/app", section: .scope("*.com")),
        ScopeCase(image: "registry.access.redhat.com/rhel7/rhel:7.2", section: .scope("registry.access.redhat.com")),
        ScopeCase(image: "cdn.access.redhat.com/rhel7/rhel", section: .scope("*.access.redhat.com")),
        ScopeCase(image: "registry.redhat.io/beta/x", section: .scope("registry.redhat.io/beta")),
        ScopeCase(image: "registry.redhat.io/ga/x", section: .policyDefault),
        ScopeCase(image: "private-mirror:5000/vendor-mirror/x", section: .scope("private-mirror:5000/vendor-mirror")),
        ScopeCase(image: "private-mirror:5001/vendor-mirror/x", section: .policyDefault),
        ScopeCase(image: "busybox", section: .policyDefault),
    ]

    @Test("the most specific scope of the example policy", arguments: fixtureScopes)
    func fixtureScope(_ row: ScopeCase) throws {
        let policy = try TrustPolicy(parsing: try FixtureFiles.bytes("policy.json"), file: "policy.json")
        #expect(policy.requirements(for: try ImageReference(parsing: row.image)).section == row.section)
    }

    static let layered = #"""
        {"default": [{"type": "reject"}],
         "transports": {"docker": {
            "": [{"type": "insecureAcceptAnything"}],
            "registry.local:5000": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/host.gpg"}],
            "registry.local:5000/team/app": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/app.gpg"}],
            "registry.local:5000/team/app:dev": [{"type": "insecureAcceptAnything"}],
            "*.internal": [{"type": "reject"}]
         }}}
        """#

    static let layeredScopes: [ScopeCase] = [
        ScopeCase(image: "registry.local:5000/team/app:dev", section: .scope("registry.local:5000/team/app:dev")),
        ScopeCase(image: "registry.local:5000/team/app:prod", section: .scope("registry.local:5000/team/app")),
        ScopeCase(image: "registry.local:5000/team/other:1", section: .scope("registry.local:5000")),
        ScopeCase(image: "registry.local:5001/team/app:1", section: .transportDefault),
        ScopeCase(image: "a.b.internal/x", section: .scope("*.internal")),
        ScopeCase(image: "docker.io/library/debian:12", section: .transportDefault),
    ]

    @Test("a host default, a repository override, a tag override, the transport default", arguments: layeredScopes)
    func layeredScope(_ row: ScopeCase) throws {
        let policy = try TrustPolicy(parsing: Array(Self.layered.utf8), file: "policy.json")
        #expect(policy.requirements(for: try ImageReference(parsing: row.image)).section == row.section)
    }

    struct IdentityCase: Sendable, CustomTestStringConvertible {
        var rule: SignedIdentityRule
        var image: String
        var signed: String
        var matches: Bool
        var testDescription: String { "\(rule.typeName): \(image) signed as \(signed)" }
    }

    static let digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    static let otherDigest = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

    /// Rows from containers/image's policy_reference_match_test.go tables,
    /// and hocker's own for a pinned tag (tag and digest both given).
    static let identities: [IdentityCase] = [
        IdentityCase(rule: .matchExact, image: "busybox:latest", signed: "busybox:latest", matches: true),
        IdentityCase(rule: .matchExact, image: "library/busybox:latest", signed: "docker.io/library/busybox:latest", matches: true),
        IdentityCase(rule: .matchExact, image: "busybox" + digest, signed: "busybox" + digest, matches: true),
        IdentityCase(rule: .matchExact, image: "busybox:latest", signed: "busybox:notlatest", matches: false),
        IdentityCase(rule: .matchExact, image: "busybox:latest", signed: "busybox", matches: false),
        IdentityCase(rule: .matchExact, image: "busybox", signed: "busybox:latest", matches: true),
        IdentityCase(rule: .matchExact, image: "busybox:latest", signed: "busybox" + digest, matches: false),
        IdentityCase(rule: .matchExact, image: "busybox" + digest, signed: "busybox" + otherDigest, matches: false),
        IdentityCase(rule: .matchExact, image: "busybox:latest", signed: "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", matches: false),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox:latest", signed: "busybox:latest", matches: true),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox:latest", signed: "busybox:notlatest", matches: false),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox:latest", signed: "busybox" + digest, matches: false),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox" + digest, signed: "busybox:latest", matches: true),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox" + digest, signed: "busybox" + otherDigest, matches: true),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox" + digest, signed: "busybox", matches: false),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox" + digest, signed: "notbusybox:latest", matches: false),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox:latest" + digest, signed: "busybox:latest", matches: true),
        IdentityCase(rule: .matchRepoDigestOrExact, image: "busybox:latest" + digest, signed: "busybox:notlatest", matches: false),
        IdentityCase(rule: .matchRepository, image: "busybox:latest", signed: "busybox:notlatest", matches: true),
        IdentityCase(rule: .matchRepository, image: "busybox:latest", signed: "busybox", matches: true),
        IdentityCase(rule: .matchRepository, image: "busybox" + digest, signed: "docker.io/library/busybox:x", matches: true),
        IdentityCase(rule: .matchRepository, image: "busybox:latest", signed: "notbusybox:latest", matches: false),
        IdentityCase(rule: .matchRepository, image: "hostname/library/busybox:latest", signed: "busybox:latest", matches: false),
        IdentityCase(rule: .exactReference("busybox:latest"), image: "anything/else:1", signed: "docker.io/library/busybox:latest", matches: true),
        IdentityCase(rule: .exactReference("busybox:latest"), image: "busybox:latest", signed: "busybox:notlatest", matches: false),
        IdentityCase(rule: .exactReference("busybox:latest"), image: "busybox:latest", signed: "busybox", matches: false),
        IdentityCase(rule: .exactRepository("busybox"), image: "anything/else:1", signed: "busybox:whatever", matches: true),
        IdentityCase(rule: .exactRepository("busybox"), image: "busybox:1", signed: "other:1", matches: false),
        IdentityCase(
            rule: .remapIdentity(prefix: "mirror.local:5000/vendor", signedPrefix: "vendor.example.com"), image: "mirror.local:5000/vendor/app:1",
            signed: "vendor.example.com/app:1", matches: true),
        IdentityCase(
            rule: .remapIdentity(prefix: "mirror.local:5000/vendor", signedPrefix: "vendor.example.com"), image: "mirror.local:5000/vendor/app:1",
            signed: "mirror.local:5000/vendor/app:1", matches: false),
        IdentityCase(
            rule: .remapIdentity(prefix: "mirror.local:5000/vendor", signedPrefix: "vendor.example.com"), image: "mirror.local:5000/vendorx/app:1",
            signed: "mirror.local:5000/vendorx/app:1", matches: true),
        IdentityCase(
            rule: .remapIdentity(prefix: "mirror.local:5000/vendor", signedPrefix: "vendor.example.com"), image: "mirror.local:5000/vendor/app:1",
            signed: "vendor.example.com/app:2", matches: false),
        IdentityCase(
            rule: .remapIdentity(prefix: "docker.io/library", signedPrefix: "registry.example.com/lib"), image: "busybox" + digest,
            signed: "registry.example.com/lib/busybox:any", matches: true),
    ]

    @Test("signedIdentity rules", arguments: identities)
    func identity(_ row: IdentityCase) throws {
        #expect(row.rule.matches(image: try ImageReference(parsing: row.image), signedReference: row.signed) == row.matches)
    }
}
