import Foundation
@testable import RegistryClient
import RegistryTestBed
import Testing

/// Where trust comes from, without a network: the variables' order, the
/// per-registry directories' order, and the certs.d file rules. The
/// directories are made in a temporary directory, never in /etc or HOME.
@Suite("TLS trust sources", .enabled(if: TestTools.path("openssl") != nil || TestTools.requireIntegration(), "needs openssl"))
struct TLSTrustTests {
    /// A CA and client certificate shared by the tests (made once).
    final class Material: Sendable {
        let ca: TestCertificateAuthority
        let client: TestCertificate
        let scratch: String

        init() async throws {
            ca = try await TestCertificateAuthority.generate(label: "unit")
            client = try await ca.issueClient(commonName: "unit client", label: "client")
            scratch = NSTemporaryDirectory() + "hocker-trust-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            try "not a certificate\n".write(toFile: scratch + "/garbage.crt", atomically: true, encoding: .utf8)
        }

        static let shared = Task { try await Material() }
    }

    static func material() async throws -> Material { try await Material.shared.value }

    /// A variable set to one of: the CA, a missing file, an empty value.
    enum Value: Sendable, CustomTestStringConvertible {
        case ca, missing, empty, directory
        var testDescription: String { "\(self)" }
    }

    @Test(arguments: [
        ([("NIX_SSL_CERT_FILE", Value.ca), ("SSL_CERT_FILE", .ca)], "NIX_SSL_CERT_FILE"),
        ([("NIX_SSL_CERT_FILE", .missing), ("SSL_CERT_FILE", .ca)], "SSL_CERT_FILE"),
        ([("NIX_SSL_CERT_FILE", .empty), ("SSL_CERT_FILE", .ca)], "SSL_CERT_FILE"),
        ([("SSL_CERT_FILE", .missing), ("SSL_CERT_DIR", .directory)], "SSL_CERT_DIR"),
        ([("SSL_CERT_FILE", .ca), ("SSL_CERT_DIR", .directory)], "SSL_CERT_FILE"),
        ([("SSL_CERT_FILE", .directory)], "system"),
        ([("SSL_CERT_DIR", .missing)], "system"),
        ([], "system"),
    ])
    func baseRoots(_ variables: [(String, Value)], winner: String) async throws {
        let material = try await Self.material()
        var environment: [String: String] = [:]
        for (name, value) in variables {
            switch value {
            case .ca: environment[name] = material.ca.certificatePath
            case .missing: environment[name] = "/no-cert-file.crt"
            case .empty: environment[name] = ""
            case .directory: environment[name] = material.ca.directory
            }
        }
        let base = try TLSTrust.baseTrust(environment: environment)
        switch base {
        case .system: #expect(winner == "system")
        case .file(let path, let variable):
            #expect(variable == winner)
            #expect(path == material.ca.certificatePath)
        case .directories(let paths, let variable):
            #expect(variable == winner)
            #expect(paths == [material.ca.directory])
        }
    }

    @Test func aBundleWithoutCertificatesIsRefusedByName() async throws {
        let material = try await Self.material()
        let error = #expect(throws: RegistryError.self) {
            try TLSTrust.baseTrust(environment: ["SSL_CERT_FILE": material.scratch + "/garbage.crt"])
        }
        #expect(error?.message == "cannot use \(material.scratch)/garbage.crt: SSL_CERT_FILE names it, but it holds no readable PEM certificate")
    }

    @Test(arguments: [
        (["XDG_CONFIG_HOME": "/x", "HOME": "/h"], "/x/containers/certs.d"),
        (["XDG_CONFIG_HOME": "", "HOME": "/h"], "/h/.config/containers/certs.d"),
        (["HOME": "/h"], "/h/.config/containers/certs.d"),
    ])
    func perHostRootsInOrder(_ environment: [String: String], first: String) {
        #expect(TLSTrust.defaultPerHostRoots(environment: environment) == [first, "/etc/containers/certs.d", "/etc/docker/certs.d"])
    }

    @Test func noHomeMeansOnlyTheSystemDirectories() {
        #expect(TLSTrust.defaultPerHostRoots(environment: [:]) == ["/etc/containers/certs.d", "/etc/docker/certs.d"])
    }

    /// The first existing `ROOT/HOST:PORT` wins; `--cert-dir` replaces them all.
    @Test(arguments: [
        ([false, true, true], nil as String?, 1),
        ([true, true, true], nil, 0),
        ([false, false, true], nil, 2),
        ([false, false, false], nil, nil as Int?),
        ([true, true, true], "given", nil),
    ])
    func firstExistingDirectoryWins(_ existing: [Bool], certDirectory: String?, chosen: Int?) async throws {
        let material = try await Self.material()
        let root = material.scratch + "/roots-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let roots = (0..<3).map { "\(root)/\($0)/certs.d" }
        for (index, exists) in existing.enumerated() where exists {
            try material.ca.certDirectory(at: roots[index] + "/registry.example:5000")
        }
        let given = try certDirectory.map { _ in try material.ca.certDirectory(at: root + "/given") }
        let trust = try TLSTrust(certDirectory: given, perHostRoots: roots, environment: [:], insecure: false)
        #expect(trust.perHostCandidates(host: "registry.example:5000") == roots.map { $0 + "/registry.example:5000" })
        let found = try trust.directory(forHost: "registry.example:5000")?.path
        if let given {
            #expect(found == given)
        } else {
            #expect(found == chosen.map { roots[$0] + "/registry.example:5000" })
        }
        // A directory for another port is not this host's.
        #expect(try trust.directory(forHost: "registry.example:5001")?.path == given)
    }

    /// containers-certs.d(5): *.crt roots, NAME.cert + NAME.key; a half pair
    /// or an unreadable certificate is an error naming the file.
    @Test(arguments: [
        (["ca.crt"], nil as String?),
        (["ca.crt", "client.cert", "client.key"], nil),
        (["ca.crt", "client.cert"], "client.cert: the client certificate has no key client.key beside it"),
        (["client.key"], "client.key: the key has no client certificate client.cert beside it"),
        (["ca.crt", "garbage.crt"], "garbage.crt: it holds no PEM certificate"),
        (["README", "ca.crt"], nil),
    ])
    func directoryRules(_ files: [String], expectedError: String?) async throws {
        let material = try await Self.material()
        let directory = material.scratch + "/rules-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let sources = [
            "ca.crt": material.ca.certificatePath, "client.cert": material.client.certificatePath, "client.key": material.client.keyPath,
            "garbage.crt": material.scratch + "/garbage.crt",
        ]
        for file in files {
            if let source = sources[file] {
                try FileManager.default.copyItem(atPath: source, toPath: directory + "/" + file)
            } else {
                try "notes\n".write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
            }
        }
        do throws(RegistryError) {
            let loaded = try CertificateDirectory(path: directory)
            #expect(expectedError == nil, "loaded, expected: \(expectedError ?? "")")
            #expect(loaded.roots.count == 1)
            #expect(loaded.identity?.certificatePath == (files.contains("client.cert") ? directory + "/client.cert" : nil))
        } catch {
            #expect(error.message == "cannot use \(directory)/\(expectedError ?? "(no error expected)")")
        }
    }

    @Test(arguments: [
        ("https://127.0.0.1:5000/v2/x/manifests/y", "127.0.0.1:5000"),
        ("https://Registry.Example/v2/", "registry.example"),
        ("https://user@host.example:443/path?q", "host.example:443"),
        ("http://[::1]:5000/v2/", "[::1]:5000"),
    ])
    func authority(_ url: String, expected: String) {
        #expect(RegistryClient.authority(of: url) == expected)
    }
}
