import Foundation
import ImageLock
import ImageTrust
import RegistryTestBed
import Testing

extension SignatureSuites {
    /// `hocker lock` under a signature policy: what is pinned must be
    /// signed, the proof is kept in the entry, a moved tag whose new image
    /// is unsigned keeps the old pin, and `check` notices a signature that
    /// is gone.
    @Suite("Lock files under a policy")
    struct SignedLockTests {
        static func hocker(_ arguments: [String], in directory: String) async throws -> ProcessResult {
            try await HockerBinary.run("hocker", arguments, directory: directory)
        }

        static func flags(_ fixture: SignatureFixture, policy: String = "signer") -> [String] {
            ["--policy", fixture.policyPath(policy), "--registries.d", fixture.registriesD]
        }

        static func lock(_ directory: String) throws -> LockFile {
            let path = directory + "/hocker.lock.json"
            return try LockFile(bytes: try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        }

        static func bytes(_ directory: String) throws -> Data {
            try Data(contentsOf: URL(fileURLWithPath: directory + "/hocker.lock.json"))
        }

        @Test("lock add records what satisfied the policy: the key, the identity signed, the signature's URL")
        func proofRecorded() async throws {
            let fixture = try SignatureFixture.shared
            let directory = try Scratch.directory("signed-lock")
            defer { Scratch.remove(directory) }
            let added = try await Self.hocker(["lock", "add"] + Self.flags(fixture) + ["\(fixture.host)/team/app:v1"], in: directory)
            #expect(added.status == 0, "\(added.stderrText)")
            #expect(added.stdoutText.hasSuffix(", signed by \(fixture.fingerprints["signer"] ?? "?")\n"), "\(added.stdoutText)")
            let entry = try #require(try Self.lock(directory).entries["app"])
            let expected = TrustProof(
                type: "signedBy", keyFingerprint: fixture.fingerprints["signer"], signedIdentity: "\(fixture.host)/team/app:v1",
                signature: .lookaside("\(fixture.lookaside.baseURL)/team/app@\(fixture.digest.replacingOccurrences(of: ":", with: "="))/signature-1"))
            #expect(entry.trust == [fixture.digest: [expected]])
            let text = String(decoding: try Self.bytes(directory), as: UTF8.self)
            #expect(text.contains("\"trust\" : {"), "\(text)")

            // Unsigned: refused, nothing written for it.
            let refused = try await Self.hocker(["lock", "add"] + Self.flags(fixture) + ["\(fixture.host)/team/unsigned:v1"], in: directory)
            #expect(refused.status == 1)
            #expect(refused.stderrText.contains("unsigned: \(fixture.host)/team/unsigned:v1@\(fixture.digest) is refused by \(fixture.policyPath("signer"))"), "\(refused.stderrText)")
            #expect(refused.stderrText.contains("no signature found"), "\(refused.stderrText)")
            #expect(try Self.lock(directory).entries["unsigned"] == nil)

            // Under a policy that asks for nothing, nothing is recorded.
            let open = try await Self.hocker(["lock", "add", "--name", "open"] + Self.flags(fixture, policy: "accept") + ["\(fixture.host)/team/unsigned:v1"], in: directory)
            #expect(open.status == 0, "\(open.stderrText)")
            #expect(try Self.lock(directory).entries["open"]?.trust == nil)
        }

        @Test("a moved tag whose new image is unsigned: update refuses it (exit 1) and keeps the old pin, byte for byte")
        func movedToUnsigned() async throws {
            let fixture = try SignatureFixture.shared
            let directory = try Scratch.directory("signed-move")
            defer { Scratch.remove(directory) }
            try await fixture.copy(to: "moving/app:v1", signBy: "signer")
            try #require(try await Self.hocker(["lock", "add"] + Self.flags(fixture) + ["\(fixture.host)/moving/app:v1"], in: directory).status == 0)
            let before = try Self.bytes(directory)

            let other = try await TestImageBuilder(directory: directory).build(tag: "v1", layers: [TestLayerSpec(seed: "moved", approximateSize: 2048)])
            defer { other.remove() }
            try await fixture.copy(to: "moving/app:v1", from: other.ociReference)
            let update = try await Self.hocker(["lock", "update"] + Self.flags(fixture), in: directory)
            print("lock update of a tag moved to an unsigned image: exit \(update.status)\n\(update.stderrText)")
            #expect(update.status == 1)
            #expect(update.stderrText.contains("app: \(fixture.host)/moving/app:v1@\(other.single.manifestDigest) is refused by \(fixture.policyPath("signer"))"), "\(update.stderrText)")
            #expect(update.stderrText.contains("1 of 1 entry failed (app); hocker.lock.json keeps it as it was"), "\(update.stderrText)")
            #expect(try Self.bytes(directory) == before)

            // Signed now: the same update pins it, with its proof.
            try await fixture.copy(to: "moving/app:v1", signBy: "signer", from: other.ociReference)
            let again = try await Self.hocker(["lock", "update"] + Self.flags(fixture), in: directory)
            #expect(again.status == 0, "\(again.stderrText)")
            let entry = try #require(try Self.lock(directory).entries["app"])
            #expect(entry.pin.digest?.description == other.single.manifestDigest)
            #expect(entry.trust?[other.single.manifestDigest]?.first?.keyFingerprint == fixture.fingerprints["signer"])
        }

        @Test("a signature removed after pinning: update leaves the unchanged entry alone, check fails naming it")
        func signatureGone() async throws {
            let fixture = try SignatureFixture.shared
            let directory = try Scratch.directory("signed-gone")
            defer { Scratch.remove(directory) }
            try await fixture.copy(to: "revoked/app:v1", signBy: "signer")
            try #require(try await Self.hocker(["lock", "add"] + Self.flags(fixture) + ["\(fixture.host)/revoked/app:v1"], in: directory).status == 0)
            let check = try await Self.hocker(["lock", "check"] + Self.flags(fixture), in: directory)
            #expect(check.status == 0, "\(check.stderrText)")

            try FileManager.default.removeItem(atPath: fixture.signaturePath("revoked/app", 1))
            let update = try await Self.hocker(["lock", "update"] + Self.flags(fixture), in: directory)
            #expect(update.status == 0, "an unchanged digest is not verified again by update: \(update.stderrText)")
            let failed = try await Self.hocker(["lock", "check"] + Self.flags(fixture), in: directory)
            print("lock check after the signature was removed: exit \(failed.status)\n\(failed.stderrText)")
            #expect(failed.status == 1)
            #expect(failed.stderrText.contains("app: \(fixture.host)/revoked/app:v1@\(fixture.digest) is refused"), "\(failed.stderrText)")
            #expect(failed.stderrText.contains("no signature found"), "\(failed.stderrText)")
        }

        /// 50 signed entries: `lock update` with every digest unchanged asks
        /// one HEAD each and verifies nothing again — shown by taking the
        /// signatures away, which `update` does not notice and `check`
        /// (which verifies every pin) does. The times are printed beside
        /// `--insecure-policy` for the record, not asserted.
        @Test("lock update of 50 unchanged verified entries verifies none again; lock check verifies all")
        func fiftyUnchanged() async throws {
            let fixture = try SignatureFixture.shared
            let directory = try Scratch.directory("signed-fifty")
            defer { Scratch.remove(directory) }
            let image = ImageFixture.build(seed: "fifty", layerSizes: [512])
            var references: [String] = []
            var signatures: [String] = []
            for number in 1...50 {
                let repository = "bench/app\(number)"
                try await Upload.image(image, to: fixture.registry.baseURL, repository: repository, tag: "v1")
                let signature = try await fixture.standaloneSign(reference: "\(fixture.host)/\(repository):v1", key: "signer", manifest: image.top.bytes)
                signatures.append(fixture.signaturePath(repository, 1, digest: image.top.digest))
                try fixture.write(signature, to: signatures[signatures.count - 1])
                references.append("\(fixture.host)/\(repository):v1")
            }
            let added = try await Self.hocker(["lock", "add", "-q", "--jobs", "8"] + Self.flags(fixture) + references, in: directory)
            try #require(added.status == 0, "\(added.stderrText)")
            #expect(try Self.lock(directory).entries.values.allSatisfy { $0.trust?[image.top.digest]?.first?.type == "signedBy" })
            let before = try Self.bytes(directory)

            func time(_ arguments: [String]) async throws -> Duration {
                let start = ContinuousClock.now
                let result = try await Self.hocker(["lock"] + arguments, in: directory)
                let elapsed = ContinuousClock.now - start
                #expect(result.status == 0, "\(result.stderrText)")
                return elapsed
            }
            func ms(_ value: Duration) -> String { "\(value.components.seconds * 1000 + value.components.attoseconds / 1_000_000_000_000_000) ms" }
            var withPolicy: [Duration] = []
            var without: [Duration] = []
            for _ in 0..<3 {
                withPolicy.append(try await time(["update", "-q"] + Self.flags(fixture)))
                without.append(try await time(["update", "-q", "--insecure-policy"]))
            }
            print("lock update, 50 unchanged signed entries: with the policy \(withPolicy.map(ms)), --insecure-policy \(without.map(ms))")

            for path in signatures { try FileManager.default.removeItem(atPath: path) }
            let updated = try await Self.hocker(["lock", "update", "-q"] + Self.flags(fixture), in: directory)
            #expect(updated.status == 0, "update verified an unchanged pin again: \(updated.stderrText)")
            #expect(try Self.bytes(directory) == before)
            let checked = try await Self.hocker(["lock", "check", "-q"] + Self.flags(fixture), in: directory)
            #expect(checked.status == 1)
            #expect(checked.stderrText.contains("no signature found"), "\(checked.stderrText)")
        }
    }
}
