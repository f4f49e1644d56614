import Foundation
import RegistryTestBed
import Testing

/// Credentials stay on safe transports and out of every output; nothing is
/// written anywhere but the path the user named (or a temporary file beside it).
extension FaultTests {
    @Suite("Security")
    struct Security {
        /// The proxy as the `HTTP_PROXY` of a registry whose name is not loopback.
        static func viaHTTPProxy(_ proxy: FaultProxy) -> [String: String] {
            ["HTTP_PROXY": proxy.forwardProxyURL, "http_proxy": proxy.forwardProxyURL, "NO_PROXY": "", "no_proxy": ""]
        }

        @Test("basic credentials never go over plain http to a host that is not loopback, unless --insecure")
        func basicOverPlainHTTP() async throws {
            let fixture = try FaultFixture.shared
            let alice = FaultFixture.alice
            try await withFaultProxy(in: fixture.basic) { proxy in
                let arguments = ["--registry", "http://registry.example/v2/", "-u", alice.user, "-p", alice.password, "private/small", "v1"]
                let refused = try await HockerBinary.run("hocker-manifest", arguments, environment: Self.viaHTTPProxy(proxy))
                #expect(refused.status == 1, "\(refused.stderrText)")
                #expect(refused.stderrText.contains("refusing to send credentials over plain http to registry.example"), "\(refused.stderrText)")
                #expect(refused.stderrText.contains("--insecure"))
                // The registry was asked (anonymously, through the proxy) and its challenge declined.
                #expect(proxy.requests.contains { $0.kind == .connect && $0.host == "registry.example:80" })
                #expect(proxy.requests.contains { $0.kind == .manifest && $0.host == "registry.example" })
                #expect(proxy.requests.allSatisfy { $0.authorization == nil })

                let allowed = try await HockerBinary.run("hocker-manifest", ["--insecure"] + arguments, environment: Self.viaHTTPProxy(proxy))
                #expect(allowed.status == 0, "\(allowed.stderrText)")
                #expect(sha256Digest(allowed.stdout) == fixture.basicImage.digest)
                #expect(proxy.requests.contains { $0.authorization?.hasPrefix("Basic ") == true })
                print("fault scenario | basic credentials, plain http, host not loopback | refused without --insecure: \(refused.stderrText.split(separator: "\n").first ?? "") | 0 requests with credentials")
            }
        }

        /// A bearer token from each of the places a user keeps one, for the
        /// plain-http registry test below.
        struct BearerSource: Sendable, CustomTestStringConvertible {
            var name: String
            var setUp: @Sendable (_ directory: String, _ token: String) throws -> (arguments: [String], environment: [String: String])
            var testDescription: String { name }
        }

        static let bearerSources: [BearerSource] = [
            BearerSource(name: "--token") { _, token in (["--token", token], [:]) },
            BearerSource(name: "DOCKER_TOKEN") { _, token in ([], ["DOCKER_TOKEN": token]) },
            BearerSource(name: "an auth file's registrytoken") { directory, token in
                let path = "\(directory)/auth.json"
                try #"{"auths": {"registry.example": {"registrytoken": "\#(token)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
                return (["--authfile", path], [:])
            },
        ]

        @Test("a bearer token never goes over plain http to a host that is not loopback, unless --insecure", arguments: bearerSources)
        func bearerOverPlainHTTP(_ source: BearerSource) async throws {
            let fixture = try FaultFixture.shared
            let directory = try Scratch.directory("fault-bearer")
            defer { Scratch.remove(directory) }
            try await withFaultProxy(in: fixture.token) { proxy in
                let token = try fixture.token.tokenServer!.signToken(
                    subject: Self.bob.name, access: [TokenAccess(type: "repository", name: "private/small", actions: ["pull"])])
                let (arguments, environment) = try source.setUp(directory, token)
                let command = ["--registry", "http://registry.example/v2/"] + arguments + ["private/small", "v1"]
                let refused = try await HockerBinary.run("hocker-manifest", command, environment: Self.viaHTTPProxy(proxy).merging(environment) { $1 })
                #expect(refused.status == 1, "\(refused.stderrText)")
                #expect(refused.stderrText.contains("refusing to send credentials over plain http to registry.example"), "\(refused.stderrText)")
                #expect(refused.stderrText.contains("--insecure"), "\(refused.stderrText)")
                #expect(refused.stdout.isEmpty)
                // The token is refused before anything is sent: no request, with or without it, reached the proxy.
                #expect(proxy.requests.allSatisfy { $0.authorization == nil })
                #expect(!refused.stderrText.contains(token))

                let allowed = try await HockerBinary.run(
                    "hocker-manifest", ["--insecure"] + command, environment: Self.viaHTTPProxy(proxy).merging(environment) { $1 })
                #expect(allowed.status == 0, "\(allowed.stderrText)")
                #expect(sha256Digest(allowed.stdout) == fixture.privateImage.digest)
                #expect(proxy.requests.contains { $0.authorization == "Bearer \(token)" })
                print("fault scenario | bearer token from \(source.name), plain http, host not loopback | refused without --insecure: \(refused.stderrText.split(separator: "\n").first ?? "") | 0 requests carried it")
            }
        }

        @Test("credentials never go to a plain-http token realm on a host that is not loopback")
        func tokenRealmOverPlainHTTP() async throws {
            let fixture = try FaultFixture.shared
            let bob = FaultFixture.bob
            try await withFaultProxy(in: fixture.token) { proxy in
                proxy.overrideRealm("http://tokens.example/token")
                let result = try await HockerBinary.run(
                    "hocker-manifest", ["--registry", proxy.v2URL, "-u", bob.name, "-p", bob.password, "private/small", "v1"])
                #expect(result.status == 1, "\(result.stderrText)")
                #expect(result.stderrText.contains("refusing the token realm to http://tokens.example/token: plain http to tokens.example is not allowed"), "\(result.stderrText)")
                #expect(!proxy.requests.contains { $0.kind == .token })
                print("fault scenario | token realm on plain http, host not loopback | \(result.stderrText.split(separator: "\n").first ?? "") | no token request")
            }
        }

        struct Source: Sendable, CustomTestStringConvertible {
            var name: String
            /// Arguments and environment, given a directory to put files in and the proxy the registry is reached through.
            var setUp: @Sendable (_ directory: String, _ fixture: FaultFixture, _ proxy: FaultProxy) throws -> (arguments: [String], environment: [String: String])
            var testDescription: String { name }
        }

        static let bob = FaultFixture.bob

        static let sources: [Source] = [
            Source(name: "-u/-p") { _, _, _ in (["-u", bob.name, "-p", bob.password], [:]) },
            Source(name: "--credentials-file") { directory, _, _ in
                let path = "\(directory)/creds"
                try "DOCKER_USER=\(bob.name)\nDOCKER_PASS=\(bob.password)\n".write(toFile: path, atomically: true, encoding: .utf8)
                return (["--credentials-file", path], [:])
            },
            Source(name: "DOCKER_USER/DOCKER_PASS") { _, _, _ in ([], ["DOCKER_USER": bob.name, "DOCKER_PASS": bob.password]) },
            Source(name: "--authfile") { directory, _, proxy in
                let path = "\(directory)/auth.json"
                let auth = Data("\(bob.name):\(bob.password)".utf8).base64EncodedString()
                try #"{"auths": {"\#(proxy.hostPort)": {"auth": "\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
                return (["--authfile", path], [:])
            },
            Source(name: "--token (a bearer token)") { _, fixture, _ in
                let token = try fixture.token.tokenServer!.signToken(
                    subject: bob.name, access: [TokenAccess(type: "repository", name: "private/small", actions: ["pull"])])
                return (["--token", token], [:])
            },
        ]

        @Test("--verbose shows *** where a secret would be; no secret in stdout, stderr or the files", arguments: sources)
        func secretsNeverShown(_ source: Source) async throws {
            let fixture = try FaultFixture.shared
            let inputs = try Scratch.directory("fault-secrets-in")
            let directory = try Scratch.directory("fault-secrets")
            defer {
                Scratch.remove(inputs)
                Scratch.remove(directory)
            }
            try await withFaultProxy(in: fixture.token) { proxy in
                var (arguments, environment) = try source.setUp(inputs, fixture, proxy)
                let out = "\(directory)/image.tar"
                arguments = ["--verbose", "--progress", "plain", "--registry", proxy.v2URL, "--out=\(out)"] + arguments + ["private/small", "v1"]
                let result = try await HockerBinary.run("hocker-image", arguments, environment: environment)
                #expect(result.status == 0, "\(result.stderrText)")
                try await ArchiveChecks.layersMatchDiffIDs(
                    archive: out, configDigest: fixture.privateImage.single.configDigest, layerDigests: fixture.privateImage.single.layerDigests)
                // Every secret: the password, its Basic encoding, and each token the registry was shown.
                var secrets = [Self.bob.password, Data("\(Self.bob.name):\(Self.bob.password)".utf8).base64EncodedString()]
                secrets += proxy.requests.compactMap { $0.authorization }.filter { $0.hasPrefix("Bearer ") }.map { String($0.dropFirst(7)) }
                #expect(secrets.count > 2, "the registry saw no bearer token")
                let archive = try Data(contentsOf: URL(fileURLWithPath: out))
                for secret in Set(secrets) {
                    #expect(!result.stdoutText.contains(secret))
                    #expect(!result.stderrText.contains(secret), "a secret in stderr: \(result.stderrText)")
                    #expect(archive.range(of: Data(secret.utf8)) == nil)
                }
                #expect(result.stderrText.contains("authorization=Bearer ***"), "\(result.stderrText)")
                #expect(Scratch.contents(directory) == ["image.tar"])
                print("fault scenario | --verbose with \(source.name) | survived, no secret in output (\(Set(secrets).count) checked), *** shown | -")
            }
        }

        @Test("only the named output is written: nothing in TMPDIR or the working directory")
        func onlyTheNamedPath() async throws {
            let fixture = try FaultFixture.shared
            let work = try Scratch.directory("fault-cwd")
            let temporary = try Scratch.directory("fault-tmp")
            defer {
                Scratch.remove(work)
                Scratch.remove(temporary)
            }
            try await withFaultProxy(in: fixture.open) { proxy in
                proxy.add(.blobGETs, .resetAfter(bytes: 1_000), times: 2)
                let environment = ["TMPDIR": temporary]
                // hocker-image without --out writes NAME-TAG.tar in the working directory, nothing else.
                let image = try await HockerBinary.run(
                    "hocker-image", ["--registry", proxy.v2URL, "--progress", "none", "fault/small", "v1"], environment: environment, directory: work)
                #expect(image.status == 0, "\(image.stderrText)")
                #expect(Scratch.contents(work) == ["small-v1.tar"])
                // hocker-layer to stdout goes through a temporary file in TMPDIR, removed after.
                let layer = try await HockerBinary.run(
                    "hocker-layer", ["--registry", proxy.v2URL, "--layer", fixture.bigLayer.digest, "fault/small", "unused"],
                    environment: environment, directory: work)
                #expect(layer.status == 0, "\(layer.stderrText)")
                #expect(sha256Digest(layer.stdout) == fixture.bigLayer.digest)
                // An OCI layout is built in a temporary directory beside the target and renamed.
                let oci = try await HockerBinary.run(
                    "hocker-image", ["--registry", proxy.v2URL, "--format", "oci", "--out", "\(work)/layout", "fault/small", "v1"],
                    environment: environment, directory: work)
                #expect(oci.status == 0, "\(oci.stderrText)")
                let blobs = Scratch.contents("\(work)/layout/blobs/sha256")
                #expect(blobs.count == 5 && blobs.allSatisfy { $0.count == 64 })  // manifest, config, three layers
                #expect(Scratch.contents(temporary).isEmpty, "left in TMPDIR: \(Scratch.contents(temporary))")
                #expect(Scratch.contents(work) == ["layout", "small-v1.tar"])
            }
        }
    }
}
