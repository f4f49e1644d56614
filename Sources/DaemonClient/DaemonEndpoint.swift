#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The unix socket a Docker Engine API daemon (docker, or podman's
/// Docker-compatible service) listens on, and how it was chosen.
public struct DaemonEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// Where the choice came from; messages name it, so a person knows what to change.
    public enum Origin: Hashable, Sendable {
        /// `--host`.
        case flag
        /// An environment variable (`DOCKER_HOST`, `CONTAINER_HOST`).
        case environment(String)
        /// One of the well-known sockets, the first that exists; `tried`
        /// lists them all, in order, for the message when none answers.
        case standard(tried: [String])
    }

    /// The socket's path.
    public var socketPath: String
    public var origin: Origin

    public init(socketPath: String, origin: Origin) {
        self.socketPath = socketPath
        self.origin = origin
    }

    /// `unix:///path`, as `DOCKER_HOST` spells it.
    public var description: String { "unix://\(socketPath)" }

    /// The well-known sockets, in the order they are tried: the Docker
    /// engine's, rootful podman's, then rootless podman's under
    /// `$XDG_RUNTIME_DIR`.
    public static func standardSockets(environment: [String: String]) -> [String] {
        var paths = ["/var/run/docker.sock", "/run/podman/podman.sock"]
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            paths.append(runtime.trimmingSuffix("/") + "/podman/podman.sock")
        }
        return paths
    }

    /// Chooses the daemon's socket: `--host` when given; else `DOCKER_HOST`
    /// (docker's variable, which podman's documentation also tells
    /// Docker-API tools to use); else `CONTAINER_HOST` (podman-remote's);
    /// else the first of ``standardSockets(environment:)`` that exists, and
    /// the Docker engine's when none does (so the error names it).
    ///
    /// An empty variable counts as unset, as docker reads them.
    ///
    /// - Parameters:
    ///   - host: `--host`: `unix:///path`, or an absolute path.
    ///   - environment: the process's environment, read here and nowhere else.
    ///   - exists: whether a path exists (the well-known sockets are probed with it).
    public static func resolve(
        host: String?, environment: [String: String], exists: (String) -> Bool
    ) throws(DaemonError) -> DaemonEndpoint {
        if let host, !host.isEmpty {
            return DaemonEndpoint(socketPath: try socketPath(host, source: "--host"), origin: .flag)
        }
        for variable in ["DOCKER_HOST", "CONTAINER_HOST"] {
            if let value = environment[variable], !value.isEmpty {
                return DaemonEndpoint(socketPath: try socketPath(value, source: variable), origin: .environment(variable))
            }
        }
        let candidates = standardSockets(environment: environment)
        let found = candidates.first(where: exists) ?? candidates[0]
        return DaemonEndpoint(socketPath: found, origin: .standard(tried: candidates))
    }

    /// The socket path of `unix:///path` (or a bare absolute path).
    /// Other transports (`tcp://`, `ssh://`, `npipe://`) are not spoken:
    /// a usage error that says so.
    static func socketPath(_ text: String, source: String) throws(DaemonError) -> String {
        if text.hasPrefix("/") { return text }
        guard let range = text.firstRange(of: "://") else {
            throw .unsupportedHost(text, source: source)
        }
        let scheme = text[..<range.lowerBound].lowercased()
        let path = String(text[range.upperBound...])
        guard scheme == "unix" else { throw .unsupportedHost(text, source: source) }
        guard path.hasPrefix("/"), path.count > 1 else { throw .unsupportedHost(text, source: source) }
        return path
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: Character) -> String {
        var result = self
        while result.count > 1, result.last == suffix { result.removeLast() }
        return result
    }
}
