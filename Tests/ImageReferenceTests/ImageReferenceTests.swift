import ImageReference
import Testing

@Suite("Image references")
struct ImageReferenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var registry: String
        var repository: String
        var tag: String?
        var digest: String?
        var testDescription: String { text }
    }

    static let hex = String(repeating: "ab", count: 32)

    static let valid: [Case] = [
        Case(text: "debian", registry: "docker.io", repository: "library/debian"),
        Case(text: "debian:bookworm", registry: "docker.io", repository: "library/debian", tag: "bookworm"),
        Case(text: "docker.io/library/debian:bookworm", registry: "docker.io", repository: "library/debian", tag: "bookworm"),
        Case(text: "index.docker.io/debian", registry: "docker.io", repository: "library/debian"),
        Case(text: "library/debian", registry: "docker.io", repository: "library/debian"),
        Case(text: "bitnami/redis:7.2", registry: "docker.io", repository: "bitnami/redis", tag: "7.2"),
        Case(text: "ghcr.io/o/i@sha256:\(hex)", registry: "ghcr.io", repository: "o/i", digest: "sha256:\(hex)"),
        Case(text: "quay.io/o/i:v1@sha256:\(hex)", registry: "quay.io", repository: "o/i", tag: "v1", digest: "sha256:\(hex)"),
        Case(text: "localhost:5000/x/y:t", registry: "localhost:5000", repository: "x/y", tag: "t"),
        Case(text: "localhost/x", registry: "localhost", repository: "x"),
        Case(text: "127.0.0.1:5000/a-b/c__d.e:T_1.2-3", registry: "127.0.0.1:5000", repository: "a-b/c__d.e", tag: "T_1.2-3"),
        Case(text: "registry.example.com/a/b/c/d", registry: "registry.example.com", repository: "a/b/c/d"),
    ]

    @Test(arguments: valid)
    func parsesValidReferences(_ expected: Case) throws {
        let reference = try ImageReference(parsing: expected.text)
        #expect(reference.registry == expected.registry)
        #expect(reference.repository == expected.repository)
        #expect(reference.tag == expected.tag)
        #expect(reference.digest?.description == expected.digest)
    }

    static let invalid: [String] = [
        "", "Debian", "debian:", "debian:-bad", "debian:.bad", "a//b", "/debian", "debian/", "deb--ian_",
        "debian@sha256:abc", "debian@sha256:../../etc/passwd", "debian@md5:\(hex)", "debian@sha256:\(hex.uppercased())",
        "debian:\(String(repeating: "t", count: 129))", "debian a", "a/.b", "a/b_",
    ]

    @Test(arguments: invalid)
    func refusesInvalidReferences(_ text: String) {
        #expect(throws: ReferenceError.self) { try ImageReference(parsing: text) }
    }

    /// Names as distribution's `reference` package (`ParseNormalizedNamed`,
    /// its normalize_test.go lists) takes them: docker accepts the first
    /// list, with the registry each names, and refuses the second.
    static let dockerAccepts: [Case] = [
        // An uppercase first component is a host: repository paths are lowercase, host names are not case-sensitive.
        Case(text: "Docker/docker", registry: "Docker", repository: "docker"),
        Case(text: "DOCKER/docker", registry: "DOCKER", repository: "docker"),
        Case(text: "LOCALDOMAIN/library/debian", registry: "LOCALDOMAIN", repository: "library/debian"),
        Case(text: "docker/docker", registry: "docker.io", repository: "docker/docker"),
        Case(text: "[fc00::1]:5000/docker/docker", registry: "[fc00::1]:5000", repository: "docker/docker"),
        Case(text: "[fc00:1:2:3:4:5:6:7]:5000/library/debian", registry: "[fc00:1:2:3:4:5:6:7]:5000", repository: "library/debian"),
        Case(text: "192.168.0.1", registry: "docker.io", repository: "library/192.168.0.1"),
        Case(text: "192.168.0.1:8/debian", registry: "192.168.0.1:8", repository: "debian"),
        Case(text: "docker.io/\(String(repeating: "1a", count: 32))", registry: "docker.io", repository: "library/\(String(repeating: "1a", count: 32))"),
        Case(text: "dock__er/docker", registry: "docker.io", repository: "dock__er/docker"),
        Case(text: "docker---rules/docker", registry: "docker.io", repository: "docker---rules/docker"),
        Case(
            text: "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", registry: "docker.io",
            repository: "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    ]

    @Test("references docker accepts", arguments: dockerAccepts)
    func acceptsWhatDockerAccepts(_ expected: Case) throws {
        try parsesValidReferences(expected)
    }

    static let dockerRefuses: [(text: String, reason: String)] = [
        ("dock..er/docker", "empty label"),
        ("dock-.er/docker", "starts and ends with a letter or digit"),
        ("dock_.er/docker", "letters, digits, '-' and '.'"),
        ("-docker.io/docker/docker", "starts and ends with a letter or digit"),
        ("fc00::1:5000/debian", "in brackets"),
        ("[2001:db8:3:4::192.0.2.33]:5000/debian", "hex digits and ':' only"),
        ("[fe80::1%eth0]:5000/debian", "hex digits and ':' only"),
        ("[fc00::1]:/debian", "the port"),
        (String(repeating: "1a", count: 32), "image ID"),
        ("docker/Docker", "must be lowercase"),
        ("docker.io/docker/Docker", "must be lowercase"),
        ("-docker/docker", "not a valid repository path component"),
        ("docker-/docker", "not a valid repository path component"),
        ("____/____", "not a valid repository path component"),
        ("docker///docker", "not a valid repository path component"),
        ("docker/", "not a valid repository path component"),
    ]

    @Test("references docker refuses, with the reason", arguments: dockerRefuses)
    func refusesWhatDockerRefuses(_ text: String, reason: String) {
        #expect {
            try ImageReference(parsing: text)
        } throws: { error in
            guard let error = error as? ReferenceError else { return false }
            return error.message.contains(reason) && error.message.contains(text)
        }
    }

    @Test func defaultRegistryReplacesDockerHub() throws {
        let reference = try ImageReference(parsing: "team/app:v1", defaultRegistry: "127.0.0.1:5000")
        #expect(reference.registry == "127.0.0.1:5000")
        #expect(reference.repository == "team/app")
        #expect(!reference.explicitRegistry)
        let single = try ImageReference(parsing: "app", defaultRegistry: "127.0.0.1:5000")
        #expect(single.repository == "app")
        #expect(try ImageReference(parsing: "ghcr.io/o/i").explicitRegistry)
    }

    @Test func referenceAndNames() throws {
        let reference = try ImageReference(parsing: "debian")
        #expect(reference.reference == "latest")
        #expect(reference.familiarName == "debian")
        #expect(reference.description == "docker.io/library/debian")
        let pinned = try ImageReference(parsing: "ghcr.io/o/i:v1@sha256:\(Self.hex)")
        #expect(pinned.reference == "sha256:\(Self.hex)")
        #expect(pinned.familiarName == "ghcr.io/o/i")
    }
}

@Suite("Digests")
struct DigestTests {
    @Test(arguments: [
        ("sha256:" + String(repeating: "0", count: 64), true),
        (String(repeating: "a", count: 64), false),
        ("sha512:" + String(repeating: "f", count: 128), true),
        ("sha256:" + String(repeating: "0", count: 63), false),
        ("sha256:" + String(repeating: "G", count: 64), false),
        ("sha256:../../etc/passwd", false),
        ("sha384:" + String(repeating: "0", count: 96), false),
        ("", false),
    ])
    func parsing(_ text: String, valid: Bool) {
        #expect(((try? Digest(parsing: text)) != nil) == valid)
    }

    @Test func bareHexForLayers() throws {
        let hex = String(repeating: "c", count: 64)
        #expect(try Digest(parsing: hex, allowBareHex: true).description == "sha256:\(hex)")
        #expect(throws: ReferenceError.self) { try Digest(parsing: "abc", allowBareHex: true) }
    }

    @Test func bytesRoundTrip() throws {
        let digest = try Digest(parsing: "sha256:054abe38b1e6f863befa4258cbfaf127b1cc9440d2e2e349b15d22e676b591e7")
        #expect(Digest.sha256(bytes: digest.bytes) == digest)
        #expect(digest.short == "054abe38b1e6")
    }
}

@Suite("Platforms")
struct PlatformTests {
    @Test(arguments: [
        ("linux/arm64", "linux/arm64/v8", true),
        ("linux/arm64/v8", "linux/arm64", true),
        ("linux/aarch64", "linux/arm64/v8", true),
        ("linux/amd64", "linux/x86_64", true),
        ("linux/arm", "linux/arm/v7", true),
        ("linux/arm/v6", "linux/arm/v7", false),
        ("linux/amd64", "linux/arm64", false),
        ("linux/amd64", "windows/amd64", false),
    ])
    func matching(_ requested: String, _ candidate: String, matches: Bool) throws {
        #expect(try Platform(parsing: requested).matches(Platform(parsing: candidate)) == matches)
    }

    @Test(arguments: ["linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64", ""])
    func refusesMalformed(_ text: String) {
        #expect(throws: ReferenceError.self) { try Platform(parsing: text) }
    }

    @Test func hostIsLinux() {
        #expect(Platform.host.os == "linux")
    }
}

@Suite("Registry endpoints")
struct RegistryEndpointTests {
    @Test(arguments: [
        ("https://registry-1.docker.io/v2/", "https://registry-1.docker.io/v2/", "docker.io"),
        ("https://registry-1.docker.io", "https://registry-1.docker.io/v2/", "docker.io"),
        ("docker.io", "https://registry-1.docker.io/v2/", "docker.io"),
        ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("127.0.0.1:5000", "https://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("localhost:5000", "https://localhost:5000/v2/", "localhost:5000"),
        ("registry.example.com:443", "https://registry.example.com:443/v2/", "registry.example.com:443"),
        ("https://example.com/prefix/v2/", "https://example.com/prefix/v2/", "example.com"),
    ])
    func parsing(_ text: String, v2URL: String, name: String) throws {
        let endpoint = try RegistryEndpoint(parsing: text)
        #expect(endpoint.v2URL == v2URL)
        #expect(endpoint.name == name)
    }

    /// Which endpoints try https first and may then fall back to plain
    /// http: bare loopback hosts and bare hosts under --insecure; never a
    /// URI with a scheme.
    @Test(arguments: [
        ("registry.example.com:5000", false, "https", false),
        ("registry.example.com:5000", true, "https", true),
        ("127.0.0.1:5000", false, "https", true),
        ("localhost:5000", false, "https", true),
        ("[::1]:5000", false, "https", true),
        ("docker.io", true, "https", true),
        ("https://127.0.0.1:5000", false, "https", false),
        ("https://registry.example.com", true, "https", false),
        ("http://127.0.0.1:5000/v2/", false, "http", false),
        ("http://registry.example.com", true, "http", false),
    ])
    func httpsFirst(_ text: String, insecure: Bool, scheme: String, fallback: Bool) throws {
        let endpoint = try RegistryEndpoint(parsing: text, insecure: insecure)
        #expect(endpoint.scheme == scheme)
        #expect(endpoint.fallsBackToPlainHTTP == fallback)
        #expect(endpoint.plainHTTP.v2URL.hasPrefix("http://"))
        #expect(!endpoint.plainHTTP.fallsBackToPlainHTTP)
    }

    @Test(arguments: [("127.0.0.1:5000", false, true), ("ghcr.io", false, false), ("ghcr.io", true, true), ("localhost", false, true)])
    func httpsFirstForReferences(_ registry: String, insecure: Bool, fallback: Bool) {
        let endpoint = RegistryEndpoint(registryName: registry, insecure: insecure)
        #expect(endpoint.scheme == "https")
        #expect(endpoint.fallsBackToPlainHTTP == fallback)
    }

    @Test(arguments: ["ftp://x", "", "https://", "host:99999", "host:port", "https://user:pw@host/"])
    func refusesMalformed(_ text: String) {
        #expect(throws: ReferenceError.self) { try RegistryEndpoint(parsing: text) }
    }
}
