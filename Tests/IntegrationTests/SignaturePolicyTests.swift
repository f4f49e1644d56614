import Foundation
import RegistryTestBed
import Testing

extension SignatureSuites {
    /// containers-policy.json cases on live GPG signatures, each judged by
    /// hocker (`verify`; `image`, which copies only what is accepted;
    /// `docker2nix`, which pins only that) and by skopeo (`copy`, which
    /// applies the policy): the verdicts must agree. Each case prints a row: `| case | hocker | skopeo |`.
    @Suite("Policy verdicts, hocker beside skopeo")
    struct SignaturePolicyTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            /// The policy file, by its name in ``SignatureFixture/policies``.
            var policy: String
            /// `REPOSITORY:TAG` in the fixture's registry.
            var image: String
            var accepted: Bool
            /// Why hocker refuses: the code of the first refusal.
            var reason: String? = nil
            var testDescription: String { name }
        }

        static let cases: [Case] = [
            Case(name: "accept: the signer's key, the signed reference", policy: "signer", image: "team/app:v1", accepted: true),
            Case(name: "a wrong key", policy: "other", image: "team/app:v1", accepted: false, reason: "unknownKey"),
            Case(name: "the same digest under another repository", policy: "signer", image: "other/app:v1", accepted: false, reason: "identityMismatch"),
            Case(name: "unsigned under signedBy", policy: "signer", image: "team/unsigned:v1", accepted: false, reason: "noSignature"),
            Case(name: "reject", policy: "reject", image: "team/app:v1", accepted: false, reason: "rejectedByPolicy"),
            Case(name: "insecureAcceptAnything, unsigned", policy: "accept", image: "team/unsigned:v1", accepted: true),
            Case(name: "scope: the repository's signedBy over the host's reject", policy: "scoped", image: "team/app:v1", accepted: true),
            Case(name: "scope: the host's reject for another repository", policy: "scoped", image: "team/unsigned:v1", accepted: false, reason: "rejectedByPolicy"),
            Case(name: "another tag of the signed digest, exact identity", policy: "signer", image: "team/app:v2", accepted: false, reason: "identityMismatch"),
            Case(name: "another tag of the signed digest, matchRepository", policy: "matchRepository", image: "team/app:v2", accepted: true),
            Case(name: "a mirror's copy, exact identity", policy: "signer", image: "mirror/app:v1", accepted: false, reason: "identityMismatch"),
            Case(name: "a mirror's copy, remapIdentity to the signed prefix", policy: "remapIdentity", image: "mirror/app:v1", accepted: true),
            Case(name: "two signatures, the first by an untrusted key", policy: "signer", image: "team/two:v1", accepted: true),
        ]

        struct Verdicts: Decodable {
            struct Manifest: Decodable {
                struct Verdict: Decodable {
                    struct Requirement: Decodable {
                        struct Refusal: Decodable {
                            var code: String
                        }
                        var proof: [String: AnyValue]?
                        var refusals: [Refusal]
                    }
                    var accepted: Bool
                    var requirements: [Requirement]
                }
                var verdict: Verdict
            }
            var accepted: Bool
            var manifests: [Manifest]
        }

        @Test("hocker's verdict is skopeo's", arguments: cases)
        func sameVerdict(_ row: Case) async throws {
            let fixture = try SignatureFixture.shared
            let reference = "\(fixture.host)/\(row.image)"
            let flags = ["--policy", fixture.policyPath(row.policy), "--registries.d", fixture.registriesD]
            let out = try Scratch.directory("verdict")
            defer { Scratch.remove(out) }

            let skopeo = try await runProcess(
                "skopeo", flags + ["copy", "--src-tls-verify=false", "docker://\(reference)", "dir:\(out)/skopeo"], environment: fixture.environment)
            let verify = try await HockerBinary.run("hocker", ["verify", "--json"] + flags + [reference])
            let image = try await HockerBinary.run("hocker", ["image", "-q", "--out", "\(out)/image.tar"] + flags + [reference])
            let pin = try await HockerBinary.run("hocker", ["docker2nix", "--json"] + flags + [reference])
            let verdicts = try JSONDecoder().decode(Verdicts.self, from: verify.stdout)
            let refusal = verdicts.manifests.first?.verdict.requirements.first { !$0.refusals.isEmpty }?.refusals.first
            let reason = refusal?.code
            print("| \(row.name) | \(verdicts.accepted ? "accept" : "refuse (\(reason ?? "?"))") | \(skopeo.succeeded ? "accept" : "refuse") |")

            #expect(skopeo.succeeded == row.accepted, "skopeo: \(skopeo.stderrText)")
            #expect(verdicts.accepted == skopeo.succeeded, "hocker verify: \(verify.stdoutText)")
            #expect(verify.status == (row.accepted ? 0 : 1), "\(verify.stderrText)")
            #expect(image.status == (row.accepted ? 0 : 1), "hocker image: \(image.stderrText)")
            #expect(FileManager.default.fileExists(atPath: "\(out)/image.tar") == row.accepted)
            #expect(pin.status == (row.accepted ? 0 : 1), "hocker docker2nix: \(pin.stderrText)")
            if let expected = row.reason { #expect(reason == expected, "\(verify.stdoutText)") }
            if !row.accepted { #expect(image.stderrText.contains("is refused by \(fixture.policyPath(row.policy))"), "\(image.stderrText)") }
        }

        @Test("an accepted image: who signed it, with which key, where the signature was")
        func proofSaysWho() async throws {
            let fixture = try SignatureFixture.shared
            let result = try await HockerBinary.run(
                "hocker", ["verify", "--policy", fixture.policyPath("signer"), "--registries.d", fixture.registriesD, "\(fixture.host)/team/two:v1"])
            #expect(result.status == 0, "\(result.stderrText)")
            let text = result.stdoutText
            #expect(text.contains("accepted  by transports.docker[\"\(fixture.host)\"]"), "\(text)")
            #expect(text.contains("signedBy, key \(fixture.fingerprints["signer"] ?? "?"), signed as \(fixture.host)/team/two:v1"), "\(text)")
            #expect(text.contains("in \(fixture.lookaside.baseURL)/team/two@\(fixture.digest.replacingOccurrences(of: ":", with: "="))/signature-2"), "\(text)")
        }

        @Test("no policy file anywhere: images are taken as before; --insecure-policy verifies nothing")
        func noPolicy() async throws {
            let fixture = try SignatureFixture.shared
            let out = try Scratch.directory("nopolicy")
            defer { Scratch.remove(out) }
            let insecure = try await HockerBinary.run("hocker", ["image", "-q", "--insecure-policy", "--out", "\(out)/a.tar", "\(fixture.host)/team/unsigned:v1"])
            #expect(insecure.status == 0, "\(insecure.stderrText)")
            let verify = try await HockerBinary.run("hocker", ["verify", "--policy", "\(out)/missing.json", "\(fixture.host)/team/app:v1"])
            #expect(verify.status == 2 && verify.stderrText.contains("policy file \(out)/missing.json: No such file or directory"), "\(verify.stderrText)")
        }
    }
}

/// Any JSON value, ignored.
struct AnyValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
