import Foundation
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// Every credential source through the htpasswd registry, and the token flow.
    @Suite("Authentication")
    struct AuthenticationTests {
        typealias Setup = @Sendable (_ directory: String) throws -> (arguments: [String], environment: [String: String])

        struct Source: Sendable, CustomTestStringConvertible {
            var name: String
            var setup: Setup
            var testDescription: String { name }
        }

        static let alice = RegistryFixture.alice

        static let basicSources: [Source] = [
            Source(name: "-u/-p") { _ in (["-u", alice.user, "-p", alice.password], [:]) },
            Source(name: "--username/--password") { _ in (["--username", alice.user, "--password", alice.password], [:]) },
            Source(name: "-f with USERNAME=/PASSWORD=") { directory in
                let path = "\(directory)/hocker-creds"
                try "USERNAME=\(alice.user)\nPASSWORD=\(alice.password)\n".write(toFile: path, atomically: true, encoding: .utf8)
                return (["-f", path], [:])
            },
            Source(name: "--credentials-file with DOCKER_USER=/DOCKER_PASS=") { directory in
                let path = "\(directory)/nix-creds"
                try "DOCKER_USER=\(alice.user)\nDOCKER_PASS=\(alice.password)\n".write(toFile: path, atomically: true, encoding: .utf8)
                return (["--credentials-file", path], [:])
            },
            Source(name: "DOCKER_USER/DOCKER_PASS") { _ in ([], ["DOCKER_USER": alice.user, "DOCKER_PASS": alice.password]) },
            Source(name: "--authfile docker config.json") { directory in
                let path = "\(directory)/config.json"
                try AuthenticationTests.dockerConfig(host: try RegistryFixture.shared.basic.hostPort).write(toFile: path, atomically: true, encoding: .utf8)
                return (["--authfile", path], [:])
            },
            Source(name: "DOCKER_CONFIG/config.json") { directory in
                try AuthenticationTests.dockerConfig(host: try RegistryFixture.shared.basic.hostPort)
                    .write(toFile: "\(directory)/config.json", atomically: true, encoding: .utf8)
                return ([], ["DOCKER_CONFIG": directory])
            },
            Source(name: "REGISTRY_AUTH_FILE auth.json") { directory in
                let path = "\(directory)/auth.json"
                try AuthenticationTests.dockerConfig(host: "http://" + (try RegistryFixture.shared.basic.hostPort))
                    .write(toFile: path, atomically: true, encoding: .utf8)
                return ([], ["REGISTRY_AUTH_FILE": path])
            },
        ]

        static func dockerConfig(host: String) -> String {
            let auth = Data("\(alice.user):\(alice.password)".utf8).base64EncodedString()
            return #"{"auths": {"\#(host)": {"auth": "\#(auth)"}}}"#
        }

        @Test("the htpasswd registry with each credential source", arguments: basicSources)
        func basicAuth(_ source: Source) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("auth")
            defer { Scratch.remove(directory) }
            let (arguments, environment) = try source.setup(directory)
            let registry = ["--registry", fixture.basic.v2URL]
            let manifest = try await HockerBinary.run("hocker-manifest", registry + arguments + ["private/app", "v1"], environment: environment)
            #expect(manifest.status == 0, "\(manifest.stderrText)")
            #expect(sha256Digest(manifest.stdout) == fixture.basicImage.digest)
            let config = try await HockerBinary.run("hocker-config", registry + arguments + ["private/app", "v1"], environment: environment)
            #expect(sha256Digest(config.stdout) == fixture.basicImage.single.configDigest)
            let layer = fixture.basicImage.single.layerDigests[0]
            let blob = try await HockerBinary.run("hocker-layer", registry + arguments + ["--layer", layer, "private/app", "unused"], environment: environment)
            #expect(sha256Digest(blob.stdout) == layer)
            let out = "\(directory)/image.tar"
            let image = try await HockerBinary.run("hocker-image", registry + arguments + ["--out=\(out)", "private/app", "v1"], environment: environment)
            #expect(image.status == 0, "\(image.stderrText)")
            try await ArchiveChecks.layersMatchDiffIDs(
                archive: out, configDigest: fixture.basicImage.single.configDigest, layerDigests: fixture.basicImage.single.layerDigests)
        }

        @Test("the htpasswd registry without credentials: unauthorized, exit 1")
        func basicWithoutCredentials() async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run("hocker-manifest", ["--registry", fixture.basic.v2URL, "private/app", "v1"])
            #expect(result.status == 1)
            #expect(result.stderrText.contains("unauthorized"), "\(result.stderrText)")
            #expect(result.stdout.isEmpty)
        }

        @Test("a wrong password: unauthorized, exit 1, the password printed nowhere")
        func wrongPassword() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("auth")
            defer { Scratch.remove(directory) }
            let secret = "Wr0ng-Secret-Value"
            for (registry, repository) in [(fixture.basic, "private/app"), (fixture.token, "private/app")] {
                let out = "\(directory)/image.tar"
                let result = try await HockerBinary.run(
                    "hocker-image", ["--verbose", "--registry", registry.v2URL, "-u", "alice", "-p", secret, "--out=\(out)", repository, "v1"])
                #expect(result.status == 1)
                #expect(result.stderrText.contains("unauthorized"), "\(result.stderrText)")
                #expect(!result.stderrText.contains(secret) && !result.stdoutText.contains(secret))
                #expect(!result.stderrText.contains(Data("alice:\(secret)".utf8).base64EncodedString()))
                #expect(Scratch.contents(directory).isEmpty)
            }
        }

        @Test("token auth: a public repository pulls anonymously, with few token requests")
        func tokenAnonymous() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("token")
            defer { Scratch.remove(directory) }
            // Only this test asks anonymously for public/app, so other tests running alongside do not count.
            func anonymousRequests() -> Int {
                (fixture.token.tokenServer?.requests ?? []).filter { !$0.sentCredentials && $0.scopes.contains("repository:public/app:pull") }.count
            }
            let before = anonymousRequests()
            let out = "\(directory)/image.tar"
            let result = try await HockerBinary.run("hocker-image", ["--verbose", "--registry", fixture.token.v2URL, "--out=\(out)", "public/app", "v1"])
            #expect(result.status == 0, "\(result.stderrText)")
            try await ArchiveChecks.layersMatchDiffIDs(
                archive: out, configDigest: fixture.publicImage.single.configDigest, layerDigests: fixture.publicImage.single.layerDigests)
            // One token for the whole pull: manifest, config and three layers share it.
            let requests = anonymousRequests() - before
            #expect(requests == 1, "\(result.stderrText)")
        }

        @Test("token auth: a private repository needs the user's credentials")
        func tokenPrivate() async throws {
            let fixture = try RegistryFixture.shared
            let registry = ["--registry", fixture.token.v2URL]
            let denied = try await HockerBinary.run("hocker-manifest", registry + ["private/app", "v1"])
            #expect(denied.status == 1)
            #expect(denied.stderrText.contains("unauthorized"), "\(denied.stderrText)")
            let bob = RegistryFixture.bob
            let allowed = try await HockerBinary.run(
                "hocker-manifest", registry + ["-u", bob.name, "-p", bob.password, "--platform", "linux/arm64", "private/app", "v1"])
            #expect(allowed.status == 0, "\(allowed.stderrText)")
            #expect(sha256Digest(allowed.stdout) == fixture.privateImage.manifest(for: .linuxARM64)?.digest)
            let viaEnvironment = try await HockerBinary.run(
                "hocker", ["manifest", "--index", "\(fixture.token.hostPort)/private/app:v1"],
                environment: ["DOCKER_USER": bob.name, "DOCKER_PASS": bob.password])
            #expect(sha256Digest(viaEnvironment.stdout) == fixture.privateImage.digest)
        }

        @Test("token auth: an identity token from an auth file is exchanged with the refresh-token grant", .serialized, arguments: [true, false])
        func identityToken(known: Bool) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("identity")
            defer { Scratch.remove(directory) }
            let secret = known ? RegistryFixture.bobIdentityToken : "not-a-Known-refresh-token"
            let path = "\(directory)/auth.json"
            try #"{"auths": {"\#(fixture.token.hostPort)": {"identitytoken": "\#(secret)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
            let before = fixture.token.tokenServer?.requests.count ?? 0
            let result = try await HockerBinary.run(
                "hocker", ["manifest", "--verbose", "--index", "--authfile", path, "\(fixture.token.hostPort)/private/app:v1"])
            let requests = (fixture.token.tokenServer?.requests ?? []).dropFirst(before).filter { $0.method == "POST" }
            #expect(!result.stderrText.contains(secret) && !result.stdoutText.contains(secret))
            if known {
                #expect(result.status == 0, "\(result.stderrText)")
                #expect(sha256Digest(result.stdout) == fixture.privateImage.digest)
                #expect(requests.contains { $0.user == RegistryFixture.bob.name && $0.status == 200 }, "\(requests)")
            } else {
                #expect(result.status == 1)
                #expect(result.stderrText.contains("unauthorized: private/app"), "\(result.stderrText)")
                #expect(result.stderrText.contains("the token server rejected an identity token"), "\(result.stderrText)")
                #expect(requests.contains { $0.status == 401 })
            }
        }
    }
}
