@testable import DaemonClient
import Testing

@Suite("Daemon endpoint")
struct DaemonEndpointTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var host: String?
        var environment: [String: String]
        var existing: Set<String>
        var socket: String
        var origin: DaemonEndpoint.Origin
        var testDescription: String { "host \(host ?? "-"), env \(environment.keys.sorted()), existing \(existing.sorted())" }
    }

    static let standard = ["/var/run/docker.sock", "/run/podman/podman.sock", "/run/user/1000/podman/podman.sock"]

    static let cases: [Case] = [
        Case(host: "unix:///tmp/d.sock", environment: ["DOCKER_HOST": "unix:///other.sock"], existing: [], socket: "/tmp/d.sock", origin: .flag),
        Case(host: "/tmp/bare.sock", environment: [:], existing: [], socket: "/tmp/bare.sock", origin: .flag),
        Case(host: nil, environment: ["DOCKER_HOST": "unix:///run/x.sock", "CONTAINER_HOST": "unix:///run/y.sock"], existing: [],
             socket: "/run/x.sock", origin: .environment("DOCKER_HOST")),
        Case(host: nil, environment: ["DOCKER_HOST": "", "CONTAINER_HOST": "unix:///run/y.sock"], existing: [],
             socket: "/run/y.sock", origin: .environment("CONTAINER_HOST")),
        Case(host: "", environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], existing: ["/var/run/docker.sock", "/run/podman/podman.sock"],
             socket: "/var/run/docker.sock", origin: .standard(tried: standard)),
        Case(host: nil, environment: ["XDG_RUNTIME_DIR": "/run/user/1000/"], existing: ["/run/user/1000/podman/podman.sock"],
             socket: "/run/user/1000/podman/podman.sock", origin: .standard(tried: standard)),
        Case(host: nil, environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], existing: ["/run/podman/podman.sock", "/run/user/1000/podman/podman.sock"],
             socket: "/run/podman/podman.sock", origin: .standard(tried: standard)),
        // None exists: docker's, so the error names the socket most people mean.
        Case(host: nil, environment: [:], existing: [], socket: "/var/run/docker.sock",
             origin: .standard(tried: ["/var/run/docker.sock", "/run/podman/podman.sock"])),
        // A relative XDG_RUNTIME_DIR is ignored, as the XDG specification says.
        Case(host: nil, environment: ["XDG_RUNTIME_DIR": "run/user"], existing: [], socket: "/var/run/docker.sock",
             origin: .standard(tried: ["/var/run/docker.sock", "/run/podman/podman.sock"])),
    ]

    @Test(arguments: cases)
    func resolves(_ item: Case) throws {
        let endpoint = try DaemonEndpoint.resolve(host: item.host, environment: item.environment) { item.existing.contains($0) }
        #expect(endpoint.socketPath == item.socket)
        #expect(endpoint.origin == item.origin)
    }

    @Test(arguments: [
        ("tcp://127.0.0.1:2375", "--host"), ("ssh://user@host", "--host"), ("npipe:////./pipe/docker_engine", "--host"),
        ("unix://", "--host"), ("unix://relative.sock", "--host"), ("docker.sock", "--host"),
    ])
    func refusesOtherTransports(_ text: String, source: String) {
        #expect(throws: DaemonError.unsupportedHost(text, source: source)) {
            try DaemonEndpoint.resolve(host: text, environment: [:]) { _ in false }
        }
    }

    @Test func anUnsupportedVariableIsNamed() {
        let error = #expect(throws: DaemonError.self) {
            try DaemonEndpoint.resolve(host: nil, environment: ["DOCKER_HOST": "tcp://10.0.0.1:2376"]) { _ in true }
        }
        #expect(error?.message.contains("DOCKER_HOST is tcp://10.0.0.1:2376") == true)
        #expect(error?.exitStatus == .usage)
    }
}

@Suite("API version")
struct APIVersionTests {
    @Test(arguments: [
        // daemon, its minimum, what hocker asks in
        ("1.41", nil, "1.41"), ("1.41", "1.12", "1.41"), ("1.52", "1.44", "1.51"), ("1.24", nil, "1.24"),
        ("1.23", nil, nil), ("1.60", "1.55", nil), ("1.45", "1.44", "1.45"), ("2.0", nil, "1.51"),
    ] as [(String, String?, String?)])
    func negotiates(_ daemon: String, _ minimum: String?, _ expected: String?) throws {
        let daemonVersion = try #require(APIVersion(daemon))
        let chosen = APIVersion.negotiate(daemon: daemonVersion, minimum: minimum.flatMap { APIVersion($0) })
        #expect(chosen?.description == expected)
    }

    @Test(arguments: ["", "1", "1.", ".41", "1.41.2", "v1.41", "1.x", "-1.2"])
    func refusesMalformed(_ text: String) {
        #expect(APIVersion(text) == nil)
    }

    @Test func orders() throws {
        #expect(try #require(APIVersion("1.9")) < #require(APIVersion("1.10")))
        #expect(try #require(APIVersion("1.41")) > #require(APIVersion("1.24")))
    }
}

@Suite("Daemon identity")
struct DaemonIdentityTests {
    @Test(arguments: [
        ("Docker/20.10.24+dfsg1 (linux)", nil, DaemonInfo.Kind.docker, "20.10.24+dfsg1"),
        ("Libpod/4.3.1 (linux)", "4.3.1", .podman, "4.3.1"),
        (nil, "5.0.2", .podman, "5.0.2"),
        ("nginx", nil, .other, ""),
        (nil, nil, .other, ""),
    ] as [(String?, String?, DaemonInfo.Kind, String)])
    func readsThePingHeaders(server: String?, libpod: String?, kind: DaemonInfo.Kind, version: String) {
        let identity = PingIdentity(server: server, libpodVersion: libpod)
        #expect(identity.kind == kind)
        #expect(identity.version == version)
    }

    @Test(arguments: [
        ("client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version", 400, "1.44"),
        ("client version 1.20 is too old. Minimum supported API version is 1.24.", 400, "1.24"),
        ("client version 1.41 is too old. Minimum supported API version is 1.44", 500, nil),
        ("no such image", 400, nil),
    ] as [(String, Int, String?)])
    func readsAVersionRefusal(_ text: String, status: Int, minimum: String?) {
        #expect(DaemonClient.minimumVersion(refusal: text, status: status)?.description == minimum)
    }
}
