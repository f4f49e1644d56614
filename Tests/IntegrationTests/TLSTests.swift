import Foundation
import RegistryTestBed
import Testing

/// https as users meet it: registries signed by a private CA, trusted the
/// ways users configure trust for other tools (skopeo's --cert-dir, the
/// containers certs.d directories, the OpenSSL and Nix variables), client
/// certificates, and failures that are final and say what to do.
// Serialized: dozens of hocker processes at once would crowd the tests of
// other suites that time how fast a signal is obeyed.
@Suite("TLS", .serialized, .tlsRegistries, .enabled(if: Integration.enabled, Integration.skipReason))
struct TLSTests {
    /// A way to trust the private CA, set up in a fresh HOME.
    struct TrustCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// Given the fixture and the HOME directory: extra arguments and environment.
        var setUp: @Sendable (TLSFixture, _ home: String) async throws -> (arguments: [String], environment: [String: String])
        var testDescription: String { name }
    }

    static let trustCases: [TrustCase] = [
        TrustCase(name: "--cert-dir") { fixture, home in
            (["--cert-dir", try fixture.ca.certDirectory(at: home + "/certs")], [:])
        },
        TrustCase(name: "$XDG_CONFIG_HOME/containers/certs.d/HOST:PORT") { fixture, home in
            try fixture.ca.certDirectory(at: "\(home)/xdg/containers/certs.d/\(fixture.https.hostPort)")
            return ([], ["XDG_CONFIG_HOME": home + "/xdg"])
        },
        TrustCase(name: "~/.config/containers/certs.d/HOST:PORT") { fixture, home in
            try fixture.ca.certDirectory(at: "\(home)/.config/containers/certs.d/\(fixture.https.hostPort)")
            return ([], ["XDG_CONFIG_HOME": ""])
        },
        TrustCase(name: "SSL_CERT_FILE") { fixture, _ in ([], ["SSL_CERT_FILE": fixture.ca.certificatePath]) },
        TrustCase(name: "NIX_SSL_CERT_FILE") { fixture, _ in ([], ["NIX_SSL_CERT_FILE": fixture.ca.certificatePath]) },
        TrustCase(name: "NIX_SSL_CERT_FILE naming no file is skipped for SSL_CERT_FILE") { fixture, _ in
            ([], ["NIX_SSL_CERT_FILE": "/no-cert-file.crt", "SSL_CERT_FILE": fixture.ca.certificatePath])
        },
        TrustCase(name: "SSL_CERT_DIR (hashed, as openssl rehash writes it)") { fixture, home in
            let directory = try fixture.ca.certDirectory(at: home + "/hashed")
            _ = try await runChecked("openssl", ["rehash", directory])
            return ([], ["SSL_CERT_DIR": "/nonexistent:" + directory])
        },
        TrustCase(name: "certs.d adds to an SSL_CERT_FILE that does not hold the CA") { fixture, home in
            try fixture.ca.certDirectory(at: "\(home)/.config/containers/certs.d/\(fixture.https.hostPort)")
            return ([], ["SSL_CERT_FILE": fixture.stranger.certificatePath])
        },
    ]

    /// manifest, config, layer and a whole image from the private-CA
    /// registry, named as a bare 127.0.0.1:PORT reference (https first).
    @Test(arguments: trustCases)
    func privateCA(_ trustCase: TrustCase) async throws {
        let fixture = try TLSFixture.shared
        let home = try Scratch.directory("tls-home")
        defer { Scratch.remove(home) }
        let (extra, setUpEnvironment) = try await trustCase.setUp(fixture, home)
        let environment = ["HOME": home, "XDG_CONFIG_HOME": home + "/.config"].merging(setUpEnvironment) { $1 }
        let reference = "\(fixture.https.hostPort)/\(TLSFixture.repository):v1"
        let image = fixture.image.single

        let manifest = try await HockerBinary.run("hocker", ["manifest"] + extra + [reference], environment: environment)
        #expect(manifest.status == 0, "\(manifest.stderrText)")
        #expect(sha256Digest(manifest.stdout) == image.digest)

        let config = try await HockerBinary.run("hocker-config", extra + [reference], environment: environment)
        #expect(config.status == 0, "\(config.stderrText)")
        #expect(sha256Digest(config.stdout) == image.configDigest)

        let layer = try await HockerBinary.run("hocker", ["layer", "--layer", image.layerDigests[0]] + extra + [reference], environment: environment)
        #expect(layer.status == 0, "\(layer.stderrText)")
        #expect(sha256Digest(layer.stdout) == image.layerDigests[0])

        let out = home + "/image.tar"
        let pulled = try await HockerBinary.run("hocker-image", ["--out", out] + extra + [reference], environment: environment)
        #expect(pulled.status == 0, "\(pulled.stderrText)")
        try await ArchiveChecks.layersMatchDiffIDs(archive: out, configDigest: image.configDigest, layerDigests: image.layerDigests)
    }

    /// The registry that requires client certificates: a pull with the
    /// client certificate from a cert dir (or a certs.d directory) works.
    @Test(arguments: [false, true])
    func clientCertificate(fromCertsD: Bool) async throws {
        let fixture = try TLSFixture.shared
        let home = try Scratch.directory("tls-mutual")
        defer { Scratch.remove(home) }
        var arguments: [String] = []
        if fromCertsD {
            try fixture.ca.certDirectory(at: "\(home)/.config/containers/certs.d/\(fixture.mutual.hostPort)", client: fixture.client)
        } else {
            arguments = ["--cert-dir", try fixture.ca.certDirectory(at: home + "/certs", client: fixture.client)]
        }
        let environment = ["HOME": home, "XDG_CONFIG_HOME": home + "/.config"]
        let reference = "\(fixture.mutual.hostPort)/\(TLSFixture.repository):v1"
        let manifest = try await HockerBinary.run("hocker", ["manifest"] + arguments + [reference], environment: environment)
        #expect(manifest.status == 0, "\(manifest.stderrText)")
        #expect(sha256Digest(manifest.stdout) == fixture.image.digest)
        let out = home + "/image.tar"
        let pulled = try await HockerBinary.run("hocker", ["image", "--out", out] + arguments + [reference], environment: environment)
        #expect(pulled.status == 0, "\(pulled.stderrText)")
        let loaded = try await Podman.load(archive: out)
        #expect(loaded.contains("\(fixture.mutual.hostPort)/\(TLSFixture.repository):v1"), "\(loaded)")
    }

    /// A refused connection: what is set up, and what the error says.
    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        /// Arguments and environment, given the fixture and a scratch directory.
        var setUp: @Sendable (TLSFixture, _ directory: String) throws -> (arguments: [String], environment: [String: String])
        /// The error line, after `hocker: error: `, must start with this.
        var message: @Sendable (TLSFixture, _ directory: String) -> String
        /// Each must appear in a hint line.
        var hints: @Sendable (TLSFixture) -> [String]
        var testDescription: String { name }
    }

    static func reference(_ registry: TestRegistry) -> String { "\(registry.hostPort)/\(TLSFixture.repository):v1" }

    static let untrustedMessage: @Sendable (TLSFixture, String) -> String = { fixture, _ in
        "the certificate of \(fixture.https.hostPort) is not trusted (issuer: CN=hocker test CA one, O=hocker test bed)"
    }

    static let refusals: [Refusal] = [
        Refusal(
            name: "no trust configured", setUp: { fixture, _ in ([reference(fixture.https)], [:]) }, message: untrustedMessage,
            hints: { fixture in
                let host = fixture.https.hostPort
                return ["--cert-dir DIR", "/.config/containers/certs.d/\(host)/", "/etc/containers/certs.d/\(host)/", "/etc/docker/certs.d/\(host)/", "SSL_CERT_FILE", "--insecure"]
            }),
        Refusal(
            name: "--cert-dir with another CA",
            setUp: { fixture, directory in (["--cert-dir", try fixture.stranger.certDirectory(at: directory + "/stranger"), reference(fixture.https)], [:]) },
            message: untrustedMessage, hints: { _ in ["no CA certificate in --cert-dir", "SSL_CERT_FILE", "--insecure"] }),
        Refusal(
            name: "--cert-dir is used instead of the certs.d directory",
            setUp: { fixture, directory in
                try fixture.ca.certDirectory(at: "\(directory)/.config/containers/certs.d/\(fixture.https.hostPort)")
                return (["--cert-dir", try fixture.stranger.certDirectory(at: directory + "/stranger"), reference(fixture.https)], [:])
            },
            message: untrustedMessage, hints: { _ in ["no CA certificate in --cert-dir"] }),
        Refusal(
            name: "NIX_SSL_CERT_FILE comes before SSL_CERT_FILE",
            setUp: { fixture, _ in ([reference(fixture.https)], ["NIX_SSL_CERT_FILE": fixture.stranger.certificatePath, "SSL_CERT_FILE": fixture.ca.certificatePath]) },
            message: untrustedMessage, hints: { fixture in ["now trusted: NIX_SSL_CERT_FILE=\(fixture.stranger.certificatePath)"] }),
        Refusal(
            name: "expired certificate",
            setUp: { fixture, _ in ([reference(fixture.expired)], ["SSL_CERT_FILE": fixture.ca.certificatePath]) },
            message: { fixture, _ in "the certificate of \(fixture.expired.hostPort) (CN=127.0.0.1) expired on " },
            hints: { _ in ["must be renewed", "--insecure"] }),
        Refusal(
            name: "certificate for another host",
            setUp: { fixture, _ in ([reference(fixture.misnamed)], ["SSL_CERT_FILE": fixture.ca.certificatePath]) },
            message: { fixture, _ in "the certificate of \(fixture.misnamed.hostPort) is for registry.invalid, not 127.0.0.1" },
            hints: { _ in ["(registry.invalid)", "--insecure"] }),
        Refusal(
            name: "client certificate required, none given",
            setUp: { fixture, directory in (["--cert-dir", try fixture.ca.certDirectory(at: directory + "/ca"), reference(fixture.mutual)], [:]) },
            message: { fixture, _ in "\(fixture.mutual.hostPort) requires a client certificate, and none was presented" },
            hints: { _ in ["NAME.cert and NAME.key in --cert-dir"] }),
        Refusal(
            name: "client certificate from another CA",
            setUp: { fixture, directory in
                let certs = try fixture.ca.certDirectory(at: directory + "/ca")
                try FileManager.default.copyItem(atPath: fixture.strangerClient.certificatePath, toPath: certs + "/stranger.cert")
                try FileManager.default.copyItem(atPath: fixture.strangerClient.keyPath, toPath: certs + "/stranger.key")
                return (["--cert-dir", certs, reference(fixture.mutual)], [:])
            },
            message: { fixture, directory in "\(fixture.mutual.hostPort) refused the client certificate \(directory)/ca/stranger.cert" },
            hints: { _ in ["issued by a CA the registry trusts"] }),
        Refusal(
            name: "https:// to a plain-http registry",
            setUp: { fixture, _ in (["--registry", "https://\(fixture.plain.hostPort)", TLSFixture.repository, "v1"], [:]) },
            message: { fixture, _ in "\(fixture.plain.hostPort) speaks plain http, not https: use http://\(fixture.plain.hostPort)/v2/ or --insecure" },
            hints: { _ in ["https:// is used as given"] }),
        Refusal(
            name: "http:// to an https registry",
            setUp: { fixture, _ in (["--registry", "http://\(fixture.https.hostPort)/v2/", TLSFixture.repository, "v1"], [:]) },
            message: { fixture, _ in "\(fixture.https.hostPort) speaks https, not plain http: use https://\(fixture.https.hostPort)/v2/" },
            hints: { _ in ["--cert-dir"] }),
        Refusal(
            name: "a client certificate without its key",
            setUp: { fixture, directory in
                let certs = try fixture.ca.certDirectory(at: directory + "/half", client: fixture.client)
                try FileManager.default.removeItem(atPath: certs + "/client.key")
                return (["--cert-dir", certs, reference(fixture.mutual)], [:])
            },
            message: { _, directory in "cannot use \(directory)/half/client.cert: the client certificate has no key client.key beside it" },
            hints: { _ in ["NAME.cert with its key NAME.key"] }),
        Refusal(
            name: "a key without its client certificate",
            setUp: { fixture, directory in
                let certs = try fixture.ca.certDirectory(at: directory + "/half", client: fixture.client)
                try FileManager.default.removeItem(atPath: certs + "/client.cert")
                return (["--cert-dir", certs, reference(fixture.mutual)], [:])
            },
            message: { _, directory in "cannot use \(directory)/half/client.key: the key has no client certificate client.cert beside it" },
            hints: { _ in ["containers-certs.d(5)"] }),
        Refusal(
            name: "SSL_CERT_FILE holding no certificate",
            setUp: { fixture, directory in
                try "not a certificate\n".write(toFile: directory + "/bundle.crt", atomically: true, encoding: .utf8)
                return ([reference(fixture.https)], ["SSL_CERT_FILE": directory + "/bundle.crt"])
            },
            message: { _, directory in "cannot use \(directory)/bundle.crt: SSL_CERT_FILE names it, but it holds no readable PEM certificate" },
            hints: { _ in [] }),
    ]

    /// Each refusal: exit 1, one error line that says which problem, the
    /// hints, no retry, no output file.
    @Test(arguments: refusals)
    func refused(_ refusal: Refusal) async throws {
        let fixture = try TLSFixture.shared
        let directory = try Scratch.directory("tls-refusal")
        defer { Scratch.remove(directory) }
        let (arguments, environment) = try refusal.setUp(fixture, directory)
        let out = directory + "/manifest.json"
        let result = try await HockerBinary.run(
            "hocker", ["manifest", "--out", out] + arguments,
            environment: ["HOME": directory, "XDG_CONFIG_HOME": directory + "/.config"].merging(environment) { $1 })
        #expect(result.status == 1, "\(result.stderrText)")
        let failure = FailureOutput(result.stderrText)
        #expect(failure.isWellFormed && failure.retries.isEmpty, "\(result.stderrText)")
        let expected = "hocker: error: " + refusal.message(fixture, directory)
        #expect(failure.errorLine.hasPrefix(expected), "expected \(expected)\n got \(result.stderrText)")
        let hints = result.stderrText.split(separator: "\n").filter { $0.hasPrefix("  hint: ") }.joined(separator: "\n")
        for hint in refusal.hints(fixture) {
            #expect(hints.contains(hint), "no hint mentions \(hint): \(result.stderrText)")
        }
        // No library text: BoringSSL's reason names, NIOSSL's types, source paths.
        for leak in ["BoringSSL", "NIOSSL", "OPENSSL_internal", "handshakeFailed", ".cc:"] {
            #expect(!result.stderrText.contains(leak), "\(result.stderrText)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// An untrusted certificate is not retried: exit 1 in under a second,
    /// run from bash. What is timed is the fastest of three runs less the
    /// fastest of three `hocker --version` (what starting costs on this
    /// machine right now), so a loaded machine does not decide; six
    /// attempts with backoff would take many seconds.
    @Test func untrustedIsFinalAndFast() async throws {
        let fixture = try TLSFixture.shared
        let home = try Scratch.directory("tls-fast")
        defer { Scratch.remove(home) }
        let environment = HockerBinary.isolatedEnvironment.merging(["HOME": home]) { $1 }
        func fastest(_ arguments: [String], check: (ProcessResult) -> Void) async throws -> Duration {
            var best = Duration.seconds(3600)
            for _ in 0..<3 {
                let started = ContinuousClock.now
                let result = try await runProcess(
                    "/bin/bash", ["-c", "exec \"$0\" \"$@\"", HockerBinary.path("hocker")] + arguments, environment: environment, timeout: .seconds(60))
                best = min(best, result.duration ?? ContinuousClock.now - started)
                check(result)
            }
            return best
        }
        let startup = try await fastest(["--version"]) { #expect($0.status == 0) }
        let untrusted = try await fastest(["manifest", "--retries", "5", Self.reference(fixture.https)]) { result in
            #expect(result.status == 1)
            #expect(FailureOutput(result.stderrText).retries.isEmpty, "\(result.stderrText)")
            #expect(result.stderrText.hasPrefix("hocker: error: " + Self.untrustedMessage(fixture, home)), "\(result.stderrText)")
        }
        print("untrusted certificate: fastest run \(untrusted), of which starting hocker \(startup)")
        #expect(untrusted - startup < .seconds(1), "fastest of three: \(untrusted); --version: \(startup)")
    }

    /// A bare loopback host:port is tried over https, then plain http: the
    /// same command reaches the https registry and the plain one, and
    /// docker2nix records the scheme that answered.
    @Test(arguments: [true, false])
    func loopbackTriesHTTPSFirst(https: Bool) async throws {
        let fixture = try TLSFixture.shared
        let registry = https ? fixture.https : fixture.plain
        let environment = ["SSL_CERT_FILE": fixture.ca.certificatePath]
        let manifest = try await HockerBinary.run("hocker", ["manifest", Self.reference(registry)], environment: environment)
        #expect(manifest.status == 0, "\(manifest.stderrText)")
        #expect(sha256Digest(manifest.stdout) == fixture.image.digest)
        #expect(manifest.stderrText.isEmpty, "\(manifest.stderrText)")

        let pin = try await HockerBinary.run("docker2nix", ["--format", "hocker", Self.reference(registry)], environment: environment)
        #expect(pin.status == 0, "\(pin.stderrText)")
        #expect(pin.stdoutText.contains(#"registry = "\#(registry.scheme)://\#(registry.hostPort)/v2/";"#), "\(pin.stdoutText)")
        let old = try await HockerBinary.run("docker2nix", ["--registry", registry.hostPort, TLSFixture.repository, "v1"], environment: environment)
        #expect(old.stdoutText.contains(#"registry = "\#(registry.scheme)://\#(registry.hostPort)/v2/";"#), "\(old.stdoutText)")

        // A lock entry records it too, so that update and check ask the same way.
        let directory = try Scratch.directory("tls-lock")
        defer { Scratch.remove(directory) }
        let add = try await HockerBinary.run("hocker", ["lock", "add", Self.reference(registry)], environment: environment, directory: directory)
        #expect(add.status == 0, "\(add.stderrText)")
        let lock = try String(contentsOfFile: directory + "/hocker.lock.json", encoding: .utf8)
        #expect(lock.contains("\"\(registry.scheme)://\(registry.hostPort)/v2/\""), "\(lock)")
        let check = try await HockerBinary.run("hocker", ["lock", "check"], environment: environment, directory: directory)
        #expect(check.status == 0, "\(check.stderrText)")
    }

    /// --insecure: a bare host is tried over https without verification,
    /// then over plain http.
    @Test(arguments: [true, false])
    func insecureTriesHTTPSFirst(https: Bool) async throws {
        let fixture = try TLSFixture.shared
        let registry = https ? fixture.https : fixture.plain
        let result = try await HockerBinary.run("hocker", ["manifest", "--insecure", "--registry", registry.hostPort, TLSFixture.repository, "v1"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(sha256Digest(result.stdout) == fixture.image.digest)
    }
}

extension TLSTests {
    /// A manifest piped to docker2nix with a bare loopback host: nothing
    /// tells which scheme the registry speaks, so https is recorded, with a
    /// warning naming the http:// to give instead.
    @Test func pipedManifestWithABareLoopbackHostWarns() async throws {
        let fixture = try TLSFixture.shared
        let result = try await HockerBinary.run(
            "docker2nix", ["--registry", fixture.plain.hostPort, TLSFixture.repository, "v1"], stdin: fixture.image.single.bytes)
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.contains(#"registry = "https://\#(fixture.plain.hostPort)/v2/";"#), "\(result.stdoutText)")
        #expect(result.stderrText.contains("give --registry http://\(fixture.plain.hostPort)/v2/"), "\(result.stderrText)")
    }
}
