import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `docker-registry` (CNCF distribution 2.8) process on a free 127.0.0.1 port,
/// with its storage, configuration and log in a private temporary directory.
///
/// Always call ``stop()`` when done (it is also attempted on deinit).
public final class TestRegistry: Sendable {
    /// How clients must authenticate.
    public enum Auth: Sendable {
        /// No authentication at all.
        case open
        /// HTTP Basic against an htpasswd file (bcrypt) with these users and passwords.
        case htpasswd(users: [String: String])
        /// `auth: token` with a ``TokenServer`` started for this registry and this policy.
        case token(TokenPolicy)
    }

    /// The `service` configured for token auth.
    public static let tokenService = "hocker-test-registry"
    /// The `issuer` configured for token auth.
    public static let tokenIssuer = "hocker-test-issuer"
    /// The htpasswd realm.
    public static let basicRealm = "hocker-test-registry"

    /// https instead of plain http: the server certificate, and the CA whose
    /// client certificates the registry requires (distribution's `clientcas`).
    public struct TLS: Sendable {
        /// The registry's certificate and key.
        public var certificate: TestCertificate
        /// The CA whose certificates clients must present; nil for none.
        public var clientCA: String?
        /// A certs.d-style directory skopeo pushes with (`--dest-cert-dir`):
        /// the CA that signed `certificate`, and a client certificate if one is required.
        public var clientDirectory: String

        public init(certificate: TestCertificate, clientCA: String? = nil, clientDirectory: String) {
            self.certificate = certificate
            self.clientCA = clientCA
            self.clientDirectory = clientDirectory
        }
    }

    /// The port the registry listens on (127.0.0.1 only).
    public let port: Int
    /// `127.0.0.1:PORT`, as used in image references.
    public var hostPort: String { "127.0.0.1:\(port)" }
    /// `http` or, with ``tls``, `https`.
    public var scheme: String { tls == nil ? "http" : "https" }
    /// `http://127.0.0.1:PORT` (`https://` with ``tls``).
    public var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT/v2/` (`https://` with ``tls``).
    public var v2URL: String { "\(scheme)://127.0.0.1:\(port)/v2/" }
    /// How it serves https; nil for plain http.
    public let tls: TLS?
    /// The registry's private temporary directory (config, storage, log).
    public let directory: String
    /// The token server, for `.token` registries.
    public let tokenServer: TokenServer?
    /// The authentication mode.
    public let auth: Auth
    /// Where the registry writes its log (stdout and stderr, including the access log).
    public let logPath: String
    /// How long start-up took (process launch until `/v2/` answered).
    public let startupDuration: Duration

    private let process: LockedProcess

    private init(
        port: Int, directory: String, tokenServer: TokenServer?, auth: Auth, tls: TLS?, logPath: String,
        startupDuration: Duration, process: LockedProcess
    ) {
        self.port = port
        self.tls = tls
        self.directory = directory
        self.tokenServer = tokenServer
        self.auth = auth
        self.logPath = logPath
        self.startupDuration = startupDuration
        self.process = process
    }


    /// Credentials that may push anything: the first htpasswd user (by name) or
    /// ``TokenPolicy/pushUser``; `nil` for an open registry.
    public var pushCredentials: (user: String, password: String)? {
        switch auth {
        case .open:
            return nil
        case .htpasswd(let users):
            return users.sorted { $0.key < $1.key }.first.map { ($0.key, $0.value) }
        case .token(let policy):
            return policy.users.first { $0.pullPushPrefixes.contains("") }.map { ($0.name, $0.password) }
        }
    }

    /// Starts a registry and waits (at most ~60 s, for loaded CI machines) until `GET /v2/` answers 200 or 401.
    ///
    /// - Parameters:
    ///   - auth: the authentication mode; `.token` also starts a ``TokenServer``.
    ///   - tls: serve https with this certificate (and require client certificates); nil for plain http.
    /// - Throws: ``TestBedError`` with the registry log tail when it does not come up.
    ///   - proxyRemoteURL: run as a pull-through cache of this registry
    ///     (distribution's `proxy: {remoteurl: …}`): pulls that miss its
    ///     storage are fetched from there and kept; nil for a plain registry.
    public static func start(auth: Auth = .open, tls: TLS? = nil, proxyRemoteURL: String? = nil) async throws -> TestRegistry {
        let executable = try TestTools.require("docker-registry")
        let directory = try makeTemporaryDirectory(prefix: "hocker-registry")
        var tokenServer: TokenServer?
        do {
            var authYAML = ""
            switch auth {
            case .open:
                break
            case .htpasswd(let users):
                let htpasswdPath = (directory as NSString).appendingPathComponent("htpasswd")
                var contents = ""
                for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                    let result = try await runChecked("htpasswd", ["-Bbn", user, password], timeout: .seconds(30))
                    contents += result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
                }
                try writeFile(htpasswdPath, contents)
                authYAML = """
                    auth:
                      htpasswd:
                        realm: \(basicRealm)
                        path: \(htpasswdPath)

                    """
            case .token(let policy):
                let key = try await TokenSigningKey.generate(in: directory, commonName: tokenIssuer)
                let server = try await TokenServer.start(
                    policy: policy, signingKey: key, service: tokenService, issuer: tokenIssuer)
                tokenServer = server
                authYAML = """
                    auth:
                      token:
                        realm: \(server.url)
                        service: \(tokenService)
                        issuer: \(tokenIssuer)
                        rootcertbundle: \(key.certificatePath)

                    """
            }

            if let proxyRemoteURL {
                authYAML += """
                    proxy:
                      remoteurl: \(proxyRemoteURL)

                    """
            }
            var lastError: TestBedError?
            for _ in 0..<3 {
                do {
                    return try await launch(
                        executable: executable, directory: directory, authYAML: authYAML, auth: auth, tls: tls,
                        tokenServer: tokenServer)
                } catch let error as TestBedError {
                    lastError = error
                    // Only a lost port race is worth another attempt.
                    guard case .registryStartFailed(_, let log) = error, log.contains("address already in use") else {
                        break
                    }
                }
            }
            throw lastError ?? TestBedError.registryStartFailed(reason: "unknown", logTail: "")
        } catch {
            tokenServer?.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private static func launch(
        executable: String, directory: String, authYAML: String, auth: Auth, tls: TLS?, tokenServer: TokenServer?
    ) async throws -> TestRegistry {
        let port = try freePort()
        // Sent back on every response, so the readiness probe cannot mistake another
        // server that won the race for this port for our registry.
        let instance = UUID().uuidString
        let storage = (directory as NSString).appendingPathComponent("storage")
        let logPath = (directory as NSString).appendingPathComponent("registry.log")
        let configPath = (directory as NSString).appendingPathComponent("config.yml")
        let config = """
            version: 0.1
            log:
              level: warn
              formatter: text
            storage:
              filesystem:
                rootdirectory: \(storage)
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: 127.0.0.1:\(port)
              secret: \(UUID().uuidString)
              headers:
                X-Content-Type-Options: [nosniff]
                X-Hocker-Test-Instance: [\(instance)]
            \(tlsYAML(tls))
            \(authYAML)
            """
        try writeFile(configPath, config)
        try writeFile(logPath, "")

        let logHandle: FileHandle
        do {
            logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try logHandle.seekToEnd()
        } catch {
            throw TestBedError.fileSystem(path: logPath, reason: "cannot open the registry log: \(error)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", configPath]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logHandle
        process.standardError = logHandle
        let clock = ContinuousClock()
        let started = clock.now
        do {
            try process.run()
        } catch {
            try? logHandle.close()
            throw TestBedError.launchFailed(command: "\(executable) serve \(configPath)", reason: "\(error)")
        }
        try? logHandle.close()
        let locked = LockedProcess(process)

        let deadline = started.advanced(by: .seconds(60))
        var lastProblem = "no answer yet"
        var ready = false
        while !ready && clock.now < deadline {
            if !locked.isRunning {
                lastProblem = "the process exited with status \(locked.terminationStatus)"
                break
            }
            do {
                // Over TLS the probe does not verify (an expired certificate
                // is served on purpose); the instance header says it is ours.
                let response = try await TestHTTP.request(
                    "GET", "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)/v2/", timeout: .seconds(2),
                    clientCertificate: tls?.clientCA == nil ? nil : tls.flatMap { TestHTTP.clientCertificate(in: $0.clientDirectory) })
                if response.header("X-Hocker-Test-Instance") != instance {
                    lastProblem = "port \(port) is answered by another server (lost the port race)"
                } else if response.status == 200 || response.status == 401 {
                    ready = true
                    break
                } else {
                    lastProblem = "GET /v2/ answered \(response.status)"
                }
            } catch {
                lastProblem = "\(error)"
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                await locked.terminate()
                throw error  // cancelled: do not leave the registry running
            }
        }
        if ready {
            return TestRegistry(
                port: port, directory: directory, tokenServer: tokenServer, auth: auth, tls: tls, logPath: logPath,
                startupDuration: clock.now - started, process: locked)
        }
        await locked.terminate()
        let log = (try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()
        throw TestBedError.registryStartFailed(
            reason: "GET \(tls == nil ? "http" : "https")://127.0.0.1:\(port)/v2/ did not answer 200/401 within 60 s (\(lastProblem)); config \(configPath)",
            logTail: textTail(log))
    }

    /// distribution's `http.tls` section (indented under `http:`), or nothing.
    private static func tlsYAML(_ tls: TLS?) -> String {
        guard let tls else { return "" }
        var yaml = """
              tls:
                certificate: \(tls.certificate.certificatePath)
                key: \(tls.certificate.keyPath)
            """
        if let clientCA = tls.clientCA {
            yaml += "\n" + """
                    clientcas:
                      - \(clientCA)
                """
        }
        return yaml
    }

    /// The registry's log so far (includes the access log lines, handy for counting requests).
    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// `true` while the registry process runs.
    public var isRunning: Bool { process.isRunning }

    /// Stops the registry (SIGTERM, SIGKILL after 5 s), stops the token server and
    /// removes the temporary directory. Idempotent.
    public func stop() {
        process.terminateBlocking(grace: .seconds(5))
        tokenServer?.stop()
        if FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    deinit {
        stop()
    }
}

/// A child process shared across threads; terminated at most once.
final class LockedProcess: Sendable {
    private let box: NIOLockedValueBox<Process?>
    private let pid: Int32

    init(_ process: Process) {
        pid = process.processIdentifier
        box = NIOLockedValueBox(process)
    }

    var isRunning: Bool { box.withLockedValue { $0?.isRunning ?? false } }

    var terminationStatus: Int32 {
        box.withLockedValue { process in
            guard let process, !process.isRunning else { return -1 }
            return process.terminationStatus
        }
    }

    /// Takes the process out so only one caller terminates it.
    private func take() -> Process? {
        box.withLockedValue { value in
            defer { value = nil }
            return value
        }
    }

    /// SIGTERM, then SIGKILL when still running after `grace` (async flavour).
    func terminate(grace: Duration = .seconds(5)) async {
        guard let process = take(), process.isRunning else { return }
        await RegistryTestBed.terminate(pid: pid, grace: grace)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(2))
        while process.isRunning && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM, then SIGKILL when still running after `grace`, blocking the caller.
    func terminateBlocking(grace: Duration) {
        guard let process = take(), process.isRunning else { return }
        _ = kill(pid, SIGTERM)
        if !waitForExit(process, within: grace) {
            _ = kill(pid, SIGKILL)
            _ = waitForExit(process, within: .seconds(2))
        }
    }

    private func waitForExit(_ process: Process, within limit: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while process.isRunning {
            if clock.now >= deadline { return false }
            usleep(20_000)
        }
        return true
    }
}

/// Creates a fresh directory under the system temporary directory.
func makeTemporaryDirectory(prefix: String) throws(TestBedError) -> String {
    let base = FileManager.default.temporaryDirectory.path
    let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8).lowercased())")
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw .fileSystem(path: path, reason: "cannot create directory: \(error)")
    }
    return path
}

/// Writes UTF-8 `text` to `path`.
func writeFile(_ path: String, _ text: String) throws(TestBedError) {
    try writeData(path, Data(text.utf8))
}

/// Writes `data` to `path` atomically.
func writeData(_ path: String, _ data: Data) throws(TestBedError) {
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw .fileSystem(path: path, reason: "cannot write: \(error)")
    }
}
