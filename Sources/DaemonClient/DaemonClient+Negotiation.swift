import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension DaemonClient {
    /// What the daemon is and the API version to speak, from `/_ping`'s
    /// headers: `API-Version` (the newest it speaks) and `Server`
    /// (`Docker/20.10.24 (linux)`, `Libpod/4.3.1 (linux)`). Only a daemon
    /// whose ping does not say is asked `/version` — podman's takes a third
    /// of a second to answer, as it asks its runtimes their versions.
    static func negotiate(http: HTTPClient, endpoint: DaemonEndpoint, deadline: ContinuousClock.Instant?) async throws -> DaemonInfo {
        try checkSocket(endpoint)
        let unnegotiated = DaemonInfo(kind: .other, version: "", apiVersion: APIVersion(0, 0), minimumAPIVersion: nil, negotiated: APIVersion(0, 0))
        let probe = DaemonClient(endpoint: endpoint, info: unnegotiated, http: http)
        let operation = "asking the daemon its version"
        return try await within(deadline, endpoint: endpoint, operation: operation) {
            let ping = try await probe.send(.GET, "/_ping", operation: operation, versioned: false)
            guard ping.status.code == 200 else { throw try await probe.failure(ping, operation: "ping") }
            _ = try await probe.collect(ping, operation: operation)
            var identity = PingIdentity(
                server: ping.headers.first(name: "Server"), libpodVersion: ping.headers.first(name: "Libpod-API-Version"))
            var apiVersion = ping.headers.first(name: "API-Version").flatMap { APIVersion($0) }
            var minimum: APIVersion?
            if apiVersion == nil {
                let version = try await probe.version(operation: operation)
                apiVersion = version.ApiVersion.flatMap { APIVersion($0) }
                minimum = version.MinAPIVersion.flatMap { APIVersion($0) }
                identity = identity.completed(by: version)
            }
            guard let apiVersion else {
                throw DaemonError.malformedAnswer(endpoint, operation: "GET /_ping", reason: "it says no API-Version, nor does /version")
            }
            guard let negotiated = APIVersion.negotiate(daemon: apiVersion, minimum: minimum) else {
                if apiVersion < APIVersion.oldestSupported { throw DaemonError.apiTooOld(endpoint, daemon: apiVersion) }
                throw DaemonError.apiTooNew(endpoint, minimum: minimum ?? apiVersion)
            }
            return DaemonInfo(
                kind: identity.kind, version: identity.version, apiVersion: apiVersion, minimumAPIVersion: minimum, negotiated: negotiated)
        }
    }

    /// `GET /version`, unversioned.
    func version(operation: String) async throws -> VersionAnswer {
        let answer = try await send(.GET, "/version", operation: operation, versioned: false)
        guard answer.status.code == 200 else { throw try await failure(answer, operation: "GET /version") }
        let bytes = try await collect(answer, operation: operation)
        do {
            return try JSONDecoder().decode(VersionAnswer.self, from: Data(bytes))
        } catch {
            throw DaemonError.malformedAnswer(endpoint, operation: "GET /version", reason: "\(error)")
        }
    }
}

/// Which daemon a ping's headers name.
struct PingIdentity: Equatable {
    var kind: DaemonInfo.Kind
    var version: String

    /// podman pings with `Libpod-API-Version` and `Server: Libpod/4.3.1 (linux)`;
    /// docker with `Server: Docker/20.10.24+dfsg1 (linux)`.
    init(server: String?, libpodVersion: String?) {
        let product = server?.split(separator: " ").first.map(String.init) ?? ""
        let parts = product.split(separator: "/", maxSplits: 1).map(String.init)
        let name = parts.first?.lowercased() ?? ""
        if libpodVersion != nil || name == "libpod" {
            kind = .podman
            version = parts.count > 1 ? parts[1] : libpodVersion ?? ""
        } else if name == "docker" {
            kind = .docker
            version = parts.count > 1 ? parts[1] : ""
        } else {
            kind = .other
            version = ""
        }
    }

    /// What `/version` adds when the ping said nothing.
    func completed(by answer: VersionAnswer) -> PingIdentity {
        var identity = self
        if identity.kind == .other { identity.kind = answer.kind(isPodman: false) }
        if identity.version.isEmpty { identity.version = answer.Version ?? "" }
        return identity
    }
}

/// The part of `/version`'s answer hocker reads.
struct VersionAnswer: Decodable {
    struct Component: Decodable {
        var Name: String?
        var Version: String?
    }

    var Version: String?
    var ApiVersion: String?
    var MinAPIVersion: String?
    var Components: [Component]?

    /// podman's service names its component `Podman Engine` (and pings with `Libpod-API-Version`); docker's is `Engine`.
    func kind(isPodman: Bool) -> DaemonInfo.Kind {
        let names = (Components ?? []).compactMap(\.Name)
        if isPodman || names.contains(where: { $0.lowercased().contains("podman") }) { return .podman }
        if names.contains("Engine") { return .docker }
        return .other
    }
}
