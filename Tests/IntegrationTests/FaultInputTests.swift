import Foundation
import RegistryTestBed
import Testing

/// What the user gives is checked before any network traffic (the proxy
/// sees no request) and refused with exit 2, naming the file at fault but
/// never quoting a secret from it.
extension FaultTests {
    @Suite("Bad input, refused before any request")
    struct BadInput {
        static let secret = "hunter2-Secret-Value"

        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            /// The argv (tool first) for a proxy URL and a directory for input files; may write files there.
            var arguments: @Sendable (_ registry: String, _ directory: String) throws -> [String]
            var environment: @Sendable (_ directory: String) -> [String: String] = { _ in [:] }
            var mentions: @Sendable (_ directory: String) -> [String]
            var testDescription: String { name }
        }

        static let hex64 = String(repeating: "ab", count: 32)

        static func file(_ directory: String, _ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        static let cases: [Case] = [
            Case(
                name: "a digest that is a path", arguments: { registry, _ in ["hocker-layer", "--registry", registry, "--layer", "sha256:../../etc/passwd", "fault/small", "unused"] },
                mentions: { _ in ["invalid digest 'sha256:../../etc/passwd'"] }),
            Case(
                name: "a sha512 digest of 64 hex digits", arguments: { registry, _ in ["hocker-layer", "--registry", registry, "--layer", "sha512:\(hex64)", "fault/small", "unused"] },
                mentions: { _ in ["invalid digest", "sha512: and 128"] }),
            Case(
                name: "upper-case hex", arguments: { registry, _ in ["hocker-layer", "--registry", registry, "--layer", "sha256:\(hex64.uppercased())", "fault/small", "unused"] },
                mentions: { _ in ["invalid digest"] }),
            Case(
                name: "an unknown digest algorithm", arguments: { registry, _ in ["hocker-layer", "--registry", registry, "--layer", "md5:d41d8cd98f00b204e9800998ecf8427e", "fault/small", "unused"] },
                mentions: { _ in ["invalid digest 'md5:"] }),
            Case(
                name: "a short digest as IMAGE-TAG", arguments: { registry, _ in ["hocker-manifest", "--registry", registry, "fault/small", "sha256:1234"] },
                mentions: { _ in ["invalid digest 'sha256:1234'"] }),
            Case(
                name: "an upper-case repository", arguments: { registry, _ in ["hocker-image", "--registry", registry, "Fault/UPPER", "v1"] },
                mentions: { _ in ["invalid image reference 'Fault/UPPER'"] }),
            Case(
                name: "a repository with ..", arguments: { registry, _ in ["hocker-image", "--registry", registry, "fault/../../etc", "v1"] },
                mentions: { _ in ["invalid image reference"] }),
            Case(
                name: "a tag starting with -", arguments: { registry, _ in ["hocker-config", "--registry", registry, "fault/small", "-v1"] },
                mentions: { _ in ["hocker: error:"] }),
            Case(
                name: "a tag with a slash", arguments: { registry, _ in ["hocker-config", "--registry", registry, "fault/small", "v1/../x"] },
                mentions: { _ in ["invalid tag 'v1/../x'"] }),
            Case(
                name: "--platform without an architecture", arguments: { registry, _ in ["hocker-image", "--registry", registry, "--platform", "linux", "fault/small", "v1"] },
                mentions: { _ in ["invalid platform 'linux'"] }),
            Case(
                name: "--platform with four parts", arguments: { registry, _ in ["hocker-image", "--registry", registry, "--platform", "linux/arm64/v8/x", "fault/small", "v1"] },
                mentions: { _ in ["invalid platform 'linux/arm64/v8/x'"] }),
            Case(
                name: "a credentials file line without =",
                arguments: { ["hocker-image", "--registry", $0, "-f", try file($1, "creds", "USERNAME=alice\nPASSWORD \(secret)\n"), "fault/small", "v1"] },
                mentions: { ["credentials file \($0)/creds, line 2: expected KEY=VALUE"] }),
            Case(
                name: "a credentials file with an unknown key",
                arguments: { ["hocker-image", "--registry", $0, "--credentials-file", try file($1, "creds", "SECRET=\(secret)\n"), "fault/small", "v1"] },
                mentions: { ["credentials file \($0)/creds, line 1: unknown key 'SECRET'"] }),
            Case(
                name: "a credentials file that does not exist",
                arguments: { ["hocker-image", "--registry", $0, "-f", "\($1)/absent", "fault/small", "v1"] },
                mentions: { ["cannot read credentials file \($0)/absent"] }),
            Case(
                name: "an auth file that is not JSON",
                arguments: { ["hocker-image", "--registry", $0, "--authfile", try file($1, "auth.json", #"{"auths": {"h": {"auth": "\#(secret)"#), "fault/small", "v1"] },
                mentions: { ["auth file \($0)/auth.json does not parse: not valid JSON"] }),
            Case(
                name: "an auth file whose auth is not base64",
                arguments: {
                    ["hocker-image", "--registry", $0, "--authfile", try file($1, "auth.json", #"{"auths": {"h": {"auth": "\#(secret)!"}}}"#), "fault/small", "v1"]
                },
                mentions: { ["auth file \($0)/auth.json does not parse", "is not base64 of username:password"] }),
            Case(
                name: "REGISTRY_AUTH_FILE that does not parse", arguments: { registry, directory in
                    _ = try file(directory, "auth.json", #"{"auths": [{"auth": "\#(secret)"}]}"#)
                    return ["hocker-image", "--registry", registry, "fault/small", "v1"]
                },
                environment: { ["REGISTRY_AUTH_FILE": "\($0)/auth.json"] },
                mentions: { ["auth file \($0)/auth.json does not parse: unexpected type at auths"] }),
            Case(
                name: "docker2nix --manifest that is not JSON",
                arguments: { ["docker2nix", "--registry", $0, "--manifest", try file($1, "m.json", "<html>not a manifest</html>"), "fault/small", "v1"] },
                mentions: { ["the manifest in \($0)/m.json is not usable: invalid manifest"] }),
            Case(
                name: "docker2nix --manifest with a digest that is a path",
                arguments: {
                    let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:../../x","size":1},"layers":[]}"#
                    return ["docker2nix", "--registry", $0, "--manifest", try file($1, "m.json", manifest), "fault/small", "v1"]
                },
                mentions: { ["the manifest in \($0)/m.json is not usable", "invalid digest 'sha256:../../x'"] }),
            Case(
                name: "an ftp:// registry", arguments: { _, _ in ["hocker-image", "--registry", "ftp://127.0.0.1/v2/", "fault/small", "v1"] },
                mentions: { _ in ["invalid registry 'ftp://127.0.0.1/v2/'"] }),
            // Names docker's reference grammar refuses (distribution's normalize_test.go).
            Case(
                name: "a host with an empty label (dock..er/docker)", arguments: { _, _ in ["hocker-manifest", "dock..er/docker", "latest"] },
                mentions: { _ in ["invalid image reference 'dock..er/docker'", "empty label"] }),
            Case(
                name: "a host label ending in - (dock-.er/docker)", arguments: { _, _ in ["hocker-manifest", "dock-.er/docker", "latest"] },
                mentions: { _ in ["invalid image reference 'dock-.er/docker'", "starts and ends with a letter or digit"] }),
            Case(
                name: "a bare IPv6 address (fc00::1:5000/debian)", arguments: { _, _ in ["hocker-manifest", "fc00::1:5000/debian", "latest"] },
                mentions: { _ in ["invalid image reference 'fc00::1:5000/debian'", "in brackets"] }),
            Case(
                name: "an IPv6 address with IPv4 in it", arguments: { _, _ in ["hocker-manifest", "[2001:db8:3:4::192.0.2.33]:5000/debian", "latest"] },
                mentions: { _ in ["hex digits and ':' only"] }),
            Case(
                name: "--max-time 0", arguments: { registry, _ in ["hocker-image", "--registry", registry, "--max-time", "0", "fault/small", "v1"] },
                mentions: { _ in ["--max-time takes a positive number"] }),
            Case(
                name: "--retries 1000", arguments: { registry, _ in ["hocker-image", "--registry", registry, "--retries", "1000", "fault/small", "v1"] },
                mentions: { _ in ["--retries takes a number from 0 to 100"] }),
        ]

        @Test("exit 2, no request, no secret, no file", arguments: cases)
        func refusedBeforeAnyRequest(_ testCase: Case) async throws {
            let fixture = try FaultFixture.shared
            let inputs = try Scratch.directory("fault-input")
            let work = try Scratch.directory("fault-cwd")
            defer {
                Scratch.remove(inputs)
                Scratch.remove(work)
            }
            try await withFaultProxy(in: fixture.open) { proxy in
                let argv = try testCase.arguments(proxy.v2URL, inputs)
                let before = Scratch.contents(inputs)
                let result = try await HockerBinary.run(argv[0], Array(argv.dropFirst()), environment: testCase.environment(inputs), directory: work)
                #expect(result.status == 2, "\(result.stderrText)")
                #expect(result.stderrText.hasPrefix("hocker: error: "), "\(result.stderrText)")
                for mention in testCase.mentions(inputs) {
                    #expect(result.stderrText.contains(mention), "expected '\(mention)' in: \(result.stderrText)")
                }
                #expect(!(result.stderrText + result.stdoutText).contains(Self.secret))
                #expect(proxy.requests.isEmpty, "requests before the input was checked: \(proxy.requests.map(\.uri))")
                #expect(Scratch.contents(work).isEmpty)
                #expect(Scratch.contents(inputs) == before)
                print("fault scenario | bad input: \(testCase.name) | exit 2: \(result.stderrText.split(separator: "\n").first ?? "") | 0 requests")
            }
        }
    }
}
