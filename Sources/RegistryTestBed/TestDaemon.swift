import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A daemon that speaks the Docker Engine API on a private unix socket,
/// started by the tests as root with everything under a temporary
/// directory: a real Docker engine (Debian's `dockerd`, which starts its
/// own containerd there) with no change to the host's networking, or
/// podman's API service on a `vfs` store.
///
/// Two paths outside that directory are the daemons' own and cannot be
/// moved: dockerd 20.10 makes an empty `/run/docker/plugins` (where it looks
/// for plugin sockets), and podman 4.3 unpacks an archive it is trying as
/// an oci-archive under `/var/tmp`, removing it after.
///
/// One per suite: starting takes about a second. Call ``stop()`` when done
/// (also attempted on deinit).
public final class TestDaemon: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case docker
        case podman

        /// The executables it needs.
        public var tools: [String] {
            switch self {
            case .docker: ["dockerd", "containerd", "runc", TestDaemon.dockerClient]
            case .podman: ["podman"]
            }
        }
    }

    /// Debian's docker client: another `docker` may come first on PATH.
    public static let dockerClient = "/usr/bin/docker"

    public let kind: Kind
    /// The private temporary directory (socket, data, state, log).
    public let directory: String
    /// The socket it listens on.
    public let socketPath: String
    /// Where its standard output and error go.
    public let logPath: String
    /// From launch until `/_ping` answered.
    public let startupDuration: Duration
    private let process: LockedProcess

    private init(kind: Kind, directory: String, socketPath: String, logPath: String, startupDuration: Duration, process: LockedProcess) {
        self.kind = kind
        self.directory = directory
        self.socketPath = socketPath
        self.logPath = logPath
        self.startupDuration = startupDuration
        self.process = process
    }

    /// `unix:///…/docker.sock`, as `DOCKER_HOST` and `--host` take it.
    public var host: String { "unix://\(socketPath)" }

    /// Why `kind` cannot be started here (not root, a tool missing), or nil when it can.
    public static func unavailableReason(_ kind: Kind) -> String? {
        if getuid() != 0 { return "starting \(kind.rawValue)'s daemon needs root" }
        let missing = TestTools.missing(kind.tools)
        return missing.isEmpty ? nil : "\(kind.rawValue)'s daemon needs \(missing.joined(separator: ", "))"
    }

    /// Starts the daemon and waits (at most 60 s) until `/_ping` answers 200.
    public static func start(_ kind: Kind) async throws -> TestDaemon {
        if let reason = unavailableReason(kind) { throw TestBedError.launchFailed(command: kind.rawValue, reason: reason) }
        let directory = try makeTemporaryDirectory(prefix: "hocker-\(kind.rawValue)d")
        let socketPath = directory + "/\(kind.rawValue).sock"
        let logPath = directory + "/daemon.log"
        let (executable, arguments, environment) = try command(kind, directory: directory, socketPath: socketPath)
        try writeFile(logPath, "")
        let log: FileHandle
        do {
            log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        } catch {
            throw TestBedError.fileSystem(path: logPath, reason: "cannot open the daemon log: \(error)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let started = ContinuousClock.now
        do {
            try process.run()
        } catch {
            try? log.close()
            throw TestBedError.launchFailed(command: executable, reason: "\(error)")
        }
        try? log.close()
        let locked = LockedProcess(process)
        let problem = await waitUntilReady(locked, socketPath: socketPath, deadline: started + .seconds(60))
        let daemon = TestDaemon(
            kind: kind, directory: directory, socketPath: socketPath, logPath: logPath, startupDuration: ContinuousClock.now - started,
            process: locked)
        guard let problem else { return daemon }
        let logText = (try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()
        daemon.stop()
        throw TestBedError.launchFailed(command: ([executable] + arguments).joined(separator: " "), reason: "\(problem)\n\(textTail(logText))")
    }

    /// The command line and environment of `kind`'s daemon, its files under `directory`.
    private static func command(_ kind: Kind, directory: String, socketPath: String) throws -> (String, [String], [String: String]) {
        switch kind {
        case .docker:
            // dockerd keeps its identity key in /etc/docker unless told otherwise.
            let configPath = directory + "/daemon.json"
            try writeFile(configPath, #"{"deprecated-key-path": "\#(directory)/key.json"}"#)
            let arguments = [
                "--config-file", configPath,
                "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false",
                "--userland-proxy=false",
                "--data-root", directory + "/data", "--exec-root", directory + "/exec",
                "--host", "unix://\(socketPath)", "--pidfile", directory + "/docker.pid",
            ]
            return (try TestTools.require("dockerd"), arguments, [:])
        case .podman:
            for sub in ["root", "runroot", "tmp"] {
                do {
                    try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
                } catch {
                    throw TestBedError.fileSystem(path: directory, reason: "cannot create the podman store: \(error)")
                }
            }
            try writeFile(directory + "/storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"\(directory)/root\"\nrunroot = \"\(directory)/runroot\"\n")
            // Where an oci-archive is unpacked: /var/tmp unless told.
            try writeFile(directory + "/containers.conf", "[engine]\nimage_copy_tmp_dir = \"\(directory)/tmp\"\n")
            let arguments = Podman.globalArguments(storeDirectory: directory) + ["system", "service", "--time=0", "unix://\(socketPath)"]
            let environment = [
                "CONTAINERS_STORAGE_CONF": directory + "/storage.conf", "CONTAINERS_CONF": directory + "/containers.conf",
                "TMPDIR": directory + "/tmp",
            ]
            return (try TestTools.require("podman"), arguments, environment)
        }
    }

    /// Polls `/_ping` until it answers 200; what went wrong when it never does.
    private static func waitUntilReady(_ process: LockedProcess, socketPath: String, deadline: ContinuousClock.Instant) async -> String? {
        var problem = "no answer yet"
        while ContinuousClock.now < deadline {
            guard process.isRunning else { return "it exited with status \(process.terminationStatus)" }
            if FileManager.default.fileExists(atPath: socketPath) {
                do {
                    // A starting daemon may hold the connection for the whole timeout: not on the concurrency pool.
                    let (status, _) = try await onThreadOfItsOwn { try UnixHTTP.request("GET", "/_ping", socketPath: socketPath, timeout: .seconds(2)) }
                    if status == 200 { return nil }
                    problem = "/_ping answered \(status)"
                } catch {
                    problem = "\(error)"
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return "/_ping did not answer within 60 s (\(problem))"
    }

    /// Runs the daemon's own client against it: Debian's `docker -H unix://SOCK`,
    /// or `podman --remote --url unix://SOCK`.
    public func client(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> ProcessResult {
        switch kind {
        case .docker:
            // An empty DOCKER_CONFIG keeps the machine's client configuration out.
            return try await runProcess(
                Self.dockerClient, ["-H", host] + arguments, environment: ["DOCKER_CONFIG": directory + "/client"], timeout: timeout)
        case .podman:
            return try await runProcess("podman", ["--remote", "--url", host] + arguments, timeout: timeout)
        }
    }

    /// Whether it holds an image with this ID (`sha256:…`), asked over the API.
    public func hasImage(_ id: String) throws -> Bool {
        try UnixHTTP.json("/images/\(id)/json", socketPath: socketPath) != nil
    }

    /// The names of image `id`, as the daemon spells them; nil when it lacks it.
    public func repoTags(of id: String) throws -> [String]? {
        guard let object = try UnixHTTP.json("/images/\(id)/json", socketPath: socketPath) else { return nil }
        return object["RepoTags"] as? [String] ?? []
    }

    /// Removes image `id` with every name it has (`DELETE /images/{id}?force=1`).
    public func removeImage(_ id: String) async throws {
        // The daemon may take a while: not on a thread of the concurrency pool, which every test shares.
        let socketPath = socketPath
        _ = try await onThreadOfItsOwn { try UnixHTTP.request("DELETE", "/images/\(id)?force=1", socketPath: socketPath) }
    }

    /// The daemon's log so far.
    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Stops it (SIGTERM; SIGKILL after 20 s: dockerd stops its containerd
    /// first), unmounts whatever it left mounted under its directory, and
    /// removes the directory. Idempotent.
    public func stop() {
        process.terminateBlocking(grace: .seconds(20))
        if kind == .docker, let text = try? String(contentsOfFile: directory + "/exec/containerd/containerd.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0
        {
            // A dockerd killed before it stopped its containerd.
            kill(pid, SIGKILL)
        }
        unmountEverything(under: directory)
        if FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    deinit {
        stop()
    }
}

/// Lazily unmounts every mount point under `directory`, deepest first (a
/// daemon stopped hard leaves its overlay and namespace mounts behind).
func unmountEverything(under directory: String) {
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return }
    let points = mounts.split(separator: "\n").compactMap { line -> String? in
        let fields = line.split(separator: " ")
        guard fields.count > 1 else { return nil }
        // /proc/self/mounts escapes a space as \040.
        let point = fields[1].replacingOccurrences(of: "\\040", with: " ")
        return point.hasPrefix(directory + "/") ? point : nil
    }
    for point in points.sorted(by: { $0.count > $1.count }) {
        _ = umount2(point, Int32(MNT_DETACH))
    }
}
