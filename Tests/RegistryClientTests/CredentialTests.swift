import Foundation
@testable import RegistryClient
import Testing

@Suite("Credentials files")
struct CredentialsFileTests {
    @Test(arguments: [
        ("USERNAME=alice\nPASSWORD=s3cret\n", Credential.basic(username: "alice", password: "s3cret")),
        ("DOCKER_USER=alice\nDOCKER_PASS=s3cret", Credential.basic(username: "alice", password: "s3cret")),
        ("export DOCKER_USER='alice'\nexport DOCKER_PASS=\"a=b c\"\n", Credential.basic(username: "alice", password: "a=b c")),
        ("# comment\n\nBEARER_TOKEN=tok\n", Credential.bearer(token: "tok")),
        ("DOCKER_TOKEN=tok\r\n", Credential.bearer(token: "tok")),
    ])
    func parses(_ text: String, expected: Credential) throws {
        #expect(try CredentialsFile.parse(text, path: "creds") == expected)
    }

    @Test(arguments: ["", "USERNAME=alice\n", "PASSWORD=x", "garbage line", "SECRET=x\nUSERNAME=a\nPASSWORD=b"])
    func refuses(_ text: String) {
        #expect(throws: CredentialError.self) { try CredentialsFile.parse(text, path: "creds") }
    }

    @Test func errorsNeverQuoteSecrets() {
        do {
            _ = try CredentialsFile.parse("PASSWORD hunter2-secret", path: "/tmp/creds")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("/tmp/creds"))
            #expect(!error.description.contains("hunter2"))
        }
    }
}

@Suite("Credential resolution")
struct CredentialResolverTests {
    /// Writes an executable script through a close-on-exec descriptor: a
    /// process another test spawns meanwhile must not inherit it open for
    /// writing, or running the script fails with ETXTBSY (exit status 126).
    func writeExecutable(_ path: String, _ text: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { throw POSIXError(.EIO) }
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-test-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsWinOverEnvironment() async throws {
        let resolver = try CredentialResolver(options: CredentialOptions(
            username: "flag", password: "p", environment: ["DOCKER_USER": "env", "DOCKER_PASS": "q", "HOME": "/nonexistent"]))
        #expect(try await resolver.credential(registry: "r.example", repository: "a/b")?.credential == .basic(username: "flag", password: "p"))
    }

    @Test func environmentVariables() async throws {
        let resolver = try CredentialResolver(options: CredentialOptions(environment: ["DOCKER_USER": "env", "DOCKER_PASS": "q", "HOME": "/nonexistent"]))
        let found = try await resolver.credential(registry: "r.example", repository: "a/b")
        #expect(found?.credential == .basic(username: "env", password: "q"))
        #expect(found?.origin == "DOCKER_USER/DOCKER_PASS")
        let token = try CredentialResolver(options: CredentialOptions(environment: ["DOCKER_TOKEN": "t", "HOME": "/nonexistent"]))
        #expect(try await token.credential(registry: "r.example", repository: "a/b")?.credential == .bearer(token: "t"))
    }

    @Test func usernameWithoutPasswordIsRefused() {
        #expect(throws: CredentialError.self) {
            try CredentialResolver(options: CredentialOptions(username: "a", environment: ["HOME": "/nonexistent"]))
        }
    }

    @Test func dockerConfigAuths() async throws {
        let auth = Data("alice:pw".utf8).base64EncodedString()
        let path = try temporaryFile("""
            {"auths": {"https://index.docker.io/v1/": {"auth": "\(Data("hub:hubpw".utf8).base64EncodedString())"},
                       "127.0.0.1:5000": {"auth": "\(auth)"},
                       "quay.io/team": {"identitytoken": "refresh"}}}
            """)
        defer { unlink(path) }
        let resolver = try CredentialResolver(options: CredentialOptions(authFile: path, environment: ["HOME": "/nonexistent"]))
        #expect(try await resolver.credential(registry: "127.0.0.1:5000", repository: "x")?.credential == .basic(username: "alice", password: "pw"))
        #expect(try await resolver.credential(registry: "docker.io", repository: "library/debian")?.credential == .basic(username: "hub", password: "hubpw"))
        #expect(try await resolver.credential(registry: "quay.io", repository: "team/app")?.credential == .identityToken("refresh"))
        #expect(try await resolver.credential(registry: "quay.io", repository: "other/app") == nil)
        #expect(try await resolver.credential(registry: "ghcr.io", repository: "o/i") == nil)
    }

    @Test func credentialHelperFromPath() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-helper-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let helper = "\(directory)/docker-credential-fake"
        try writeExecutable(helper, """
            #!/bin/sh
            read server
            if [ "$server" = "registry.example" ]; then
              printf '{"ServerURL":"%s","Username":"helperuser","Secret":"helpersecret"}' "$server"
            else
              echo "credentials not found in native keychain"; exit 1
            fi
            """)
        let config = try temporaryFile(#"{"credHelpers": {"registry.example": "fake"}, "credsStore": "fake"}"#)
        defer { unlink(config) }
        // The helper is found on the resolver's PATH, not this process's: no setenv
        // racing the tests that run beside this one.
        let environment = ["HOME": "/nonexistent", "PATH": "\(directory):/usr/bin:/bin"]
        let resolver = try CredentialResolver(options: CredentialOptions(authFile: config, environment: environment))
        let found = try await resolver.credential(registry: "registry.example", repository: "a")
        #expect(found?.credential == .basic(username: "helperuser", password: "helpersecret"))
        #expect(found?.origin == "docker-credential-fake")
        #expect(try await resolver.credential(registry: "other.example", repository: "a") == nil)
    }

    /// A failing helper's error says why from its stderr, never quoting its stdout.
    @Test func failingHelperSaysWhyWithoutItsStdout() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-helper-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try writeExecutable("\(directory)/docker-credential-locked", """
            #!/bin/sh
            echo '{"Secret":"stdout-secret"}'
            echo "the keychain is locked" >&2
            exit 3
            """)
        let config = try temporaryFile(#"{"credsStore": "locked"}"#)
        defer { unlink(config) }
        let environment = ["HOME": "/nonexistent", "PATH": "\(directory):/usr/bin:/bin"]
        let resolver = try CredentialResolver(options: CredentialOptions(authFile: config, environment: environment))
        do {
            _ = try await resolver.credential(registry: "registry.example", repository: "a")
            Issue.record("expected the helper's failure")
        } catch {
            let message = "\(error)"
            #expect(message.contains("exit status 3: the keychain is locked"))
            #expect(!message.contains("stdout-secret"))
        }
    }

    @Test(arguments: ["{", "[]", #"{"auths": {"h": {"auth": "!!notbase64"}}}"#, #"{"auths": 5}"#, #"{"credsStore": "../../bin/sh"}"#])
    func malformedAuthFilesAreRefused(_ text: String) throws {
        let path = try temporaryFile(text)
        defer { unlink(path) }
        #expect(throws: CredentialError.self) {
            try CredentialResolver(options: CredentialOptions(authFile: path, environment: ["HOME": "/nonexistent"]))
        }
    }

    @Test func authFileErrorsNeverQuoteSecrets() throws {
        let path = try temporaryFile(#"{"auths": {"h": {"auth": "c2VjcmV0LXdpdGhvdXQtY29sb24="}}}"#)
        defer { unlink(path) }
        do {
            _ = try CredentialResolver(options: CredentialOptions(authFile: path, environment: ["HOME": "/nonexistent"]))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains(path))
            #expect(!error.description.contains("secret"))
            #expect(!error.description.contains("c2VjcmV0"))
        }
    }
}
