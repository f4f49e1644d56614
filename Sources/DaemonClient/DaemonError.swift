import ImageReference

/// What the caller knows of an archive it sends to `/images/load`, so that
/// a refusal can say why the daemon likely refused it.
public struct ArchiveDescription: Hashable, Sendable {
    /// How it is named in messages: a path, `standard input`, an image reference.
    public var name: String
    /// An OCI image layout in a tar (`oci-layout`, `index.json`), not a docker-archive.
    public var isOCIArchive: Bool
    /// Whether some layer is zstd-compressed; nil when not known (a layer not read before sending).
    public var hasZstdLayers: Bool?

    public init(name: String, isOCIArchive: Bool = false, hasZstdLayers: Bool? = nil) {
        self.name = name
        self.isOCIArchive = isOCIArchive
        self.hasZstdLayers = hasZstdLayers
    }
}

/// A daemon that could not be reached, or that said no.
public enum DaemonError: UserFacingError, Equatable {
    /// Why nothing answered at the socket.
    public enum Absence: Hashable, Sendable {
        /// No file at the path.
        case missing
        /// A socket file with no process listening (a daemon that stopped).
        case refused
        /// A file that is not a socket.
        case notASocket
    }

    /// `--host`, `DOCKER_HOST` or `CONTAINER_HOST` names a transport other than a unix socket.
    case unsupportedHost(String, source: String)
    /// No daemon listens at the socket.
    case noDaemon(DaemonEndpoint, Absence)
    /// The socket exists but this user may not open it.
    case permissionDenied(DaemonEndpoint, group: String?)
    /// The daemon speaks an API older than hocker needs.
    case apiTooOld(DaemonEndpoint, daemon: APIVersion)
    /// The daemon no longer accepts the newest API hocker speaks.
    case apiTooNew(DaemonEndpoint, minimum: APIVersion)
    /// The daemon refused an archive: its own words, and what the caller knew of the archive.
    case archiveRefused(ArchiveDescription, daemon: String, message: String)
    /// Any other refusal: the operation, the HTTP status and the daemon's message.
    case failed(operation: String, daemon: String, status: Int, message: String)
    /// The operation did not finish by its deadline; `seconds` it had run.
    case timedOut(operation: String, endpoint: DaemonEndpoint, seconds: Double)
    /// The connection failed or broke.
    case connection(DaemonEndpoint, operation: String, reason: String)
    /// The daemon answered something that is not the Docker Engine API.
    case malformedAnswer(DaemonEndpoint, operation: String, reason: String)
    /// The archive's bytes could not be read (a file, a pipe).
    case readingArchive(String, reason: String)

    public var exitStatus: ExitStatus {
        if case .unsupportedHost = self { return .usage }
        return .failure
    }

    public var message: String {
        switch self {
        case .unsupportedHost(let text, let source):
            "\(source) is \(text): hocker speaks to a daemon over a unix socket only (unix:///path/to.sock)"
        case .noDaemon(let endpoint, let absence):
            switch absence {
            case .missing: "no daemon at \(endpoint.socketPath): the socket does not exist, so the daemon is not running there"
            case .refused: "no daemon at \(endpoint.socketPath): the socket exists but nothing listens on it (the daemon stopped?)"
            case .notASocket: "no daemon at \(endpoint.socketPath): it is not a socket"
            }
        case .permissionDenied(let endpoint, let group):
            "permission denied on \(endpoint.socketPath)"
                + (group.map { $0 == "root" ? ": only root may use this daemon" : ": only root and the group '\($0)' may use this daemon" } ?? "")
        case .apiTooOld(let endpoint, let daemon):
            "the daemon at \(endpoint.socketPath) speaks Docker API \(daemon), older than \(APIVersion.oldestSupported) (docker 1.12), the oldest hocker speaks"
        case .apiTooNew(let endpoint, let minimum):
            "the daemon at \(endpoint.socketPath) accepts Docker API \(minimum) and newer only; hocker speaks up to \(APIVersion.newestSupported)"
        case .archiveRefused(let archive, let daemon, let message):
            "\(daemon) refused \(archive.name): \(message)"
        case .failed(let operation, let daemon, let status, let message):
            "\(daemon) answered \(operation) with HTTP \(status): \(message)"
        case .timedOut(let operation, let endpoint, let seconds):
            "\(operation) at \(endpoint.socketPath) did not finish before the deadline (\(Self.format(seconds)) s after it began)"
        case .connection(let endpoint, let operation, let reason):
            "\(operation) at \(endpoint.socketPath) failed: \(reason)"
        case .malformedAnswer(let endpoint, let operation, let reason):
            "the daemon at \(endpoint.socketPath) answered \(operation) with something that is not the Docker Engine API: \(reason)"
        case .readingArchive(let name, let reason):
            "cannot read \(name): \(reason)"
        }
    }

    public var reportsTimeLimit: Bool {
        if case .timedOut = self { return true }
        return false
    }

    public var hints: [String] {
        switch self {
        case .unsupportedHost:
            return ["for a remote daemon, forward its socket (ssh -L /tmp/d.sock:/var/run/docker.sock host) and give --host unix:///tmp/d.sock"]
        case .noDaemon(let endpoint, _):
            var hints: [String] = []
            if case .standard(let tried) = endpoint.origin, tried.count > 1 {
                hints.append("looked for \(tried.joined(separator: ", ")); none exists")
            } else if case .environment(let variable) = endpoint.origin {
                hints.append("the socket is \(variable)'s; unset it to use the standard sockets")
            }
            hints.append("start the daemon (systemctl start docker; for podman: systemctl start podman.socket, or podman system service --time=0 &)")
            hints.append("or point at another: --host unix:///path/to.sock, or DOCKER_HOST=unix:///path/to.sock")
            return hints
        case .permissionDenied(_, let group):
            // A socket of group root admits no one but root: joining a group would not help until the daemon gives it one.
            let join =
                group == "root"
                ? "run hocker as root, or have the daemon give its socket a group (dockerd --group docker, or SocketGroup= in its .socket unit) and add yourself to it"
                : "add yourself to \(group.map { "the group '\($0)'" } ?? "the socket's group") (sudo usermod -aG \(group ?? "docker") $USER, then log in again), or run hocker as root"
            return [join, "or use rootless podman's socket: --host unix://$XDG_RUNTIME_DIR/podman/podman.sock (systemctl --user start podman.socket)"]
        case .apiTooOld:
            return ["upgrade the daemon (docker 1.12 or newer, or podman 2 or newer)"]
        case .apiTooNew:
            return ["use a newer hocker, or start the daemon with DOCKER_MIN_API_VERSION=\(APIVersion.newestSupported)"]
        case .archiveRefused(let archive, _, _):
            return Self.refusalHints(archive)
        case .timedOut:
            return ["give it longer with --max-time, or check the daemon: it may be busy or stuck"]
        case .connection, .malformedAnswer, .failed, .readingArchive:
            return []
        }
    }

    /// What likely made a daemon refuse an archive, from what is known of it.
    private static func refusalHints(_ archive: ArchiveDescription) -> [String] {
        if archive.isOCIArchive {
            return [
                "\(archive.name) is an oci-archive (an OCI layout in a tar), which older docker engines (20.10 among them) do not load",
                "write a docker-archive instead (hocker image --format docker, or skopeo copy oci-archive:FILE docker-archive:OUT), or load it into podman",
            ]
        }
        switch archive.hasZstdLayers {
        case true?:
            return [
                "\(archive.name) has zstd-compressed layers, which docker before 23.0 cannot read",
                "load an image with gzip layers (the registry's gzip variant, or skopeo copy --dest-compress-format gzip), or load it into podman",
            ]
        case nil:
            return ["if its layers are zstd-compressed: docker before 23.0 cannot read them; use gzip layers, or podman"]
        case false?:
            return []
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(Double(Int(seconds * 10)) / 10)
    }
}
