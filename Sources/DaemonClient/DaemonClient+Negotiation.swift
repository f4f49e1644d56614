import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension DaemonClient {
    /// What the daemon is and the API version to speak: `/_ping`'s
    /// `API-Version` header (the newest it speaks), then `/version` (what
    /// it is, the oldest it still accepts, and its API version again for a
    /// daemon whose ping does not say).
    static func negotiate(http: HTTPClient, endpoint: DaemonEndpoint, deadline: ContinuousClock.Instant?) async throws -> DaemonInfo {
        try checkSocket(endpoint)
        let unnegotiated = DaemonInfo(kind: .other, version: "", apiVersion: APIVersion(0, 0), minimumAPIVersion: nil, negotiated: APIVersion(0, 0))
        let probe = DaemonClient(endpoint: endpoint, info: unnegotiated, http: http)
        let operation = "asking the daemon its version"
        return try await within(deadline, endpoint: endpoint, operation: operation) {
            let ping = try await probe.send(.GET, "/_ping", operation: operation, versioned: false)
            let pinged = ping.headers.first(name: "API-Version").flatMap { APIVersion($0) }
            let isPodman = ping.headers.contains(name: "Libpod-API-Version")
            guard ping.status.code == 200 else { throw try await probe.failure(ping, operation: "ping") }
            _ = try await probe.collect(ping, operation: operation)

            let answer = try await probe.send(.GET, "/version", operation: operation, versioned: false)
            guard answer.status.code == 200 else { throw try await probe.failure(answer, operation: "GET /version") }
            let bytes = try await probe.collect(answer, operation: operation)
            let version: VersionAnswer
            do {
                version = try JSONDecoder().decode(VersionAnswer.self, from: Data(bytes))
            } catch {
                throw DaemonError.malformedAnswer(endpoint, operation: "GET /version", reason: "\(error)")
            }
            guard let apiVersion = pinged ?? version.ApiVersion.flatMap({ APIVersion($0) }) else {
                throw DaemonError.malformedAnswer(endpoint, operation: "GET /_ping", reason: "it says no API-Version")
            }
            let minimum = version.MinAPIVersion.flatMap { APIVersion($0) }
            guard let negotiated = APIVersion.negotiate(daemon: apiVersion, minimum: minimum) else {
                if apiVersion < APIVersion.oldestSupported { throw DaemonError.apiTooOld(endpoint, daemon: apiVersion) }
                throw DaemonError.apiTooNew(endpoint, minimum: minimum ?? apiVersion)
            }
            return DaemonInfo(
                kind: version.kind(isPodman: isPodman), version: version.Version ?? "", apiVersion: apiVersion, minimumAPIVersion: minimum,
                negotiated: negotiated)
        }
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
