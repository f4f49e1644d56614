#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import ImageReference

/// A secret to authenticate with. Its description never shows the secret.
public enum Credential: Sendable, Hashable, CustomStringConvertible {
    /// A username and password, sent with `Basic` or to a token realm.
    case basic(username: String, password: String)
    /// A bearer token used as it is (hocker's `--token`).
    case bearer(token: String)
    /// An OAuth2 refresh token, as `docker login` stores in `identitytoken`,
    /// and the user name stored with it (ACR's
    /// `00000000-0000-0000-0000-000000000000`), for realms that take it
    /// only as a password on the token spec's GET.
    case identityToken(String, username: String? = nil)

    public var description: String {
        switch self {
        case .basic(let username, _): "username '\(username)' and a password"
        case .bearer: "a bearer token"
        case .identityToken: "an identity token"
        }
    }

    /// `Basic base64(username:password)` for a basic credential; nil otherwise.
    public var basicAuthorization: String? {
        guard case .basic(let username, let password) = self else { return nil }
        return "Basic " + Self.encodedPair(username, password)
    }

    /// base64 of `username:password`: what a Basic header carries.
    private static func encodedPair(_ username: String, _ password: String) -> String {
        Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// The secret strings, for redaction.
    public var secrets: [String] {
        switch self {
        case .basic(let username, let password):
            [password, Self.encodedPair(username, password)]
        case .bearer(let token): [token]
        case .identityToken(let token, _): [token]
        }
    }
}

/// A credential and where it came from (a flag, a variable, a file), so
/// messages can say which source to fix without printing the secret.
public struct ResolvedCredential: Sendable, Hashable {
    public var credential: Credential
    public var origin: String

    public init(_ credential: Credential, origin: String) {
        self.credential = credential
        self.origin = origin
    }
}

/// A credentials file or auth file that cannot be used. The user's mistake:
/// reported as a usage error, naming the file but never its contents.
public enum CredentialError: UserFacingError, Equatable {
    case unreadable(path: String, detail: String)
    /// A credentials file that does not parse; `line` is nil when the file as a whole is at fault.
    case malformedCredentialsFile(path: String, line: Int?, reason: String)
    case malformedAuthFile(path: String, reason: String)
    case incomplete(String)

    public var exitStatus: ExitStatus { .usage }

    public var message: String {
        switch self {
        case .unreadable(let path, let detail):
            "cannot read credentials file \(path): \(detail)"
        case .malformedCredentialsFile(let path, let line, let reason):
            "credentials file \(path)\(line.map { ", line \($0)" } ?? ""): \(reason)"
        case .malformedAuthFile(let path, let reason):
            "auth file \(path) does not parse: \(reason)"
        case .incomplete(let reason):
            reason
        }
    }
}

/// Parses hocker's and nixpkgs' credentials files: `KEY=VALUE` lines with
/// `USERNAME`/`PASSWORD` or `BEARER_TOKEN` (hocker), or `DOCKER_USER`/
/// `DOCKER_PASS` or `DOCKER_TOKEN` (nixpkgs' fetchdocker). Blank lines,
/// `#` comments, an `export ` prefix and quotes around values are allowed.
public enum CredentialsFile {
    public static func parse(_ text: String, path: String) throws(CredentialError) -> Credential {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = Substring(rawLine)
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst("export ".count) }
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformedCredentialsFile(path: path, line: number + 1, reason: "expected KEY=VALUE")
            }
            let key = line[..<equals].trimmingWhitespace()
            // `KEY = "value" ` as shells and .env files are written: spaces around the value are not part of it.
            var value = Substring(line[line.index(after: equals)...].trimmingWhitespace())
            for quote in ["\"", "'"] where value.count >= 2 && value.hasPrefix(quote) && value.hasSuffix(quote) {
                value = value.dropFirst().dropLast()
            }
            let known = ["USERNAME", "PASSWORD", "BEARER_TOKEN", "DOCKER_USER", "DOCKER_PASS", "DOCKER_TOKEN"]
            guard known.contains(key) else {
                // A key is named only when it looks like one: a malformed line may
                // hold a secret left of its `=`, and that must not be echoed.
                let looksLikeKey = key.utf8.count <= 40 && key.utf8.allSatisfy { c in
                    (0x41...0x5a).contains(c) || (0x30...0x39).contains(c) || c == UInt8(ascii: "_")
                }
                throw .malformedCredentialsFile(
                    path: path, line: number + 1,
                    reason: "\(looksLikeKey ? "unknown key '\(key)'" : "an unknown key") (expected USERNAME/PASSWORD, BEARER_TOKEN, DOCKER_USER/DOCKER_PASS or DOCKER_TOKEN)"
                )
            }
            values[key] = String(value)
        }
        if let token = values["BEARER_TOKEN"] ?? values["DOCKER_TOKEN"], !token.isEmpty {
            return .bearer(token: token)
        }
        let username = values["USERNAME"] ?? values["DOCKER_USER"]
        let password = values["PASSWORD"] ?? values["DOCKER_PASS"]
        switch (username, password) {
        case (let user?, let pass?) where !user.isEmpty:
            return .basic(username: user, password: pass)
        case (nil, nil):
            throw .malformedCredentialsFile(path: path, line: nil, reason: "no credentials in it (USERNAME and PASSWORD, or BEARER_TOKEN)")
        default:
            throw .malformedCredentialsFile(path: path, line: nil, reason: "a username needs a password and a password a username")
        }
    }
}

/// What the user gave to authenticate with, before it is resolved per registry.
public struct CredentialOptions: Sendable {
    public var username: String?
    public var password: String?
    public var token: String?
    /// `--credentials-file`.
    public var credentialsFile: String?
    /// `--authfile`.
    public var authFile: String?
    /// The process environment (`DOCKER_USER`, `REGISTRY_AUTH_FILE`, `HOME`, ...).
    public var environment: [String: String]
    /// Where resolved secrets are registered so output can mask them; nil for none.
    public var redactor: SecretRedactor?
    /// Where the process groups of running credential helpers are
    /// registered, so an interrupted run can kill them; nil for none.
    public var children: ChildProcesses?

    public init(
        username: String? = nil, password: String? = nil, token: String? = nil,
        credentialsFile: String? = nil, authFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        redactor: SecretRedactor? = nil, children: ChildProcesses? = nil
    ) {
        self.redactor = redactor
        self.children = children
        self.username = username
        self.password = password
        self.token = token
        self.credentialsFile = credentialsFile
        self.authFile = authFile
        self.environment = environment
    }
}

/// Finds the credential for a registry, in the order of DESIGN §2.3: flags,
/// then `DOCKER_TOKEN` / `DOCKER_USER`+`DOCKER_PASS`, then auth files
/// (`--authfile`, `REGISTRY_AUTH_FILE`, containers' `auth.json`, docker's
/// `config.json` with `auths`, `credHelpers` and `credsStore`), else none.
public struct CredentialResolver: Sendable {
    public let options: CredentialOptions
    /// The credential from flags or the environment, resolved up front.
    private var explicit: ResolvedCredential?
    private let authFiles: [AuthFile]
    /// What each helper answered, per server, shared by every copy of the
    /// resolver: a helper runs at most once a run for a server.
    private let helperAnswers = HelperAnswers()

    /// Reads and checks every credential the user named — flags, the
    /// credentials file, an explicit auth file — so mistakes surface before
    /// any network traffic. Implicit auth files (in the home directory) are
    /// read too; one that does not parse is skipped.
    public init(options: CredentialOptions) throws(CredentialError) {
        self.options = options
        let env = options.environment
        if let token = options.token {
            guard options.username == nil, options.password == nil else {
                throw .incomplete("--token and --username/--password exclude each other")
            }
            explicit = ResolvedCredential(.bearer(token: token), origin: "--token")
        } else if options.username != nil || options.password != nil {
            guard let username = options.username else { throw .incomplete("--password needs --username") }
            guard let password = options.password else {
                throw .incomplete("--username '\(username.prefix(64))' needs a password: --password-stdin (read from standard input) or --password")
            }
            explicit = ResolvedCredential(.basic(username: username, password: password), origin: "--username/--password")
        } else if let path = options.credentialsFile {
            let text: String
            do {
                text = try LocalFile.readText(path)
            } catch {
                throw .unreadable(path: path, detail: Self.describe(error))
            }
            explicit = ResolvedCredential(try CredentialsFile.parse(text, path: path), origin: path)
        } else if let token = env["DOCKER_TOKEN"], !token.isEmpty {
            explicit = ResolvedCredential(.bearer(token: token), origin: "DOCKER_TOKEN")
        } else if let user = env["DOCKER_USER"], !user.isEmpty {
            guard let pass = env["DOCKER_PASS"] else {
                throw .incomplete("DOCKER_USER is set but DOCKER_PASS is not")
            }
            explicit = ResolvedCredential(.basic(username: user, password: pass), origin: "DOCKER_USER/DOCKER_PASS")
        } else {
            explicit = nil
        }

        if let explicit { options.redactor?.register(explicit.credential) }
        var files: [AuthFile] = []
        for (path, source) in Self.authFilePaths(options) {
            guard FileManager.default.fileExists(atPath: path) else {
                if source == .named { throw .unreadable(path: path, detail: "no such file") }
                continue
            }
            do {
                files.append(try AuthFile(path: path))
            } catch {
                if source != .implicit { throw error }
            }
        }
        authFiles = files
    }

    /// How an auth file came to be searched, which decides what its absence
    /// or damage means.
    enum AuthFileSource {
        /// `--authfile`: it must exist and parse.
        case named
        /// `REGISTRY_AUTH_FILE`: skipped when missing (a variable left over),
        /// but when it exists it must parse.
        case variable
        /// The default places: skipped when missing or damaged.
        case implicit
    }

    /// The auth files to search, in order, with where each came from.
    static func authFilePaths(_ options: CredentialOptions) -> [(String, AuthFileSource)] {
        let env = options.environment
        var paths: [(String, AuthFileSource)] = []
        if let path = options.authFile { paths.append((path, .named)) }
        if let path = env["REGISTRY_AUTH_FILE"], !path.isEmpty { paths.append((path, .variable)) }
        if let runtime = env["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            paths.append(("\(runtime)/containers/auth.json", .implicit))
        }
        let home = LocalFile.home(env)
        paths.append(("\(env["XDG_CONFIG_HOME"] ?? "\(home)/.config")/containers/auth.json", .implicit))
        if let dockerConfig = env["DOCKER_CONFIG"], !dockerConfig.isEmpty {
            paths.append(("\(dockerConfig)/config.json", .implicit))
        } else {
            paths.append(("\(home)/.docker/config.json", .implicit))
        }
        return paths
    }

    /// The same auth files without the credential of flags or the
    /// environment (`--username`, `--token`, `DOCKER_USER`, …): for a
    /// mirror on another registry, which must never receive the primary's
    /// credential and gets only what the auth files hold for its own host.
    public func withoutExplicitCredential() -> CredentialResolver {
        var copy = self
        copy.explicit = nil
        return copy
    }

    /// The credential for `repository` that needs nothing run: the flags'
    /// or the environment's, or an auth file's own entry. Nil when there is
    /// none, or when the first source that has one is a credential helper —
    /// that is asked only when the registry challenges (``credential(registry:repository:helperTimeout:)``).
    public func upfrontCredential(registry: String, repository: String) -> ResolvedCredential? {
        if let explicit { return explicit }
        guard case .entry(let found)? = lookups(registry: registry, repository: repository).first else { return nil }
        options.redactor?.register(found.credential)
        return found
    }

    /// The credential for `repository` at the registry named `registry`
    /// (`docker.io`, `ghcr.io`, `127.0.0.1:5000`), running a credential
    /// helper when an auth file names one (at most `helperTimeout`, once per
    /// server and run). Nil means anonymous.
    public func credential(
        registry: String, repository: String, helperTimeout: HelperTimeout = HelperTimeout(.seconds(30))
    ) async throws(RegistryError) -> ResolvedCredential? {
        if let explicit { return explicit }
        for lookup in lookups(registry: registry, repository: repository) {
            let found: ResolvedCredential?
            switch lookup {
            case .entry(let entry):
                found = entry
            case .helper(let name, let serverURL):
                let helper = CredentialHelper(name: name, environment: options.environment, children: options.children)
                found = try await helperAnswers.answer(helper, serverURL: serverURL, timeout: helperTimeout)
            }
            if let found {
                options.redactor?.register(found.credential)
                return found
            }
        }
        return nil
    }

    /// What the auth files say of a registry, in their order (those that say nothing left out).
    private func lookups(registry: String, repository: String) -> [AuthFile.Lookup] {
        authFiles.compactMap { $0.lookup(registry: registry, repository: repository) }
    }

    static func describe(_ error: any Error) -> String {
        LocalFile.describe(error)
    }
}

/// The answers of credential helpers, by helper and server: concurrent
/// requests for the same one share one run.
final class HelperAnswers: Sendable {
    private let answers = Mutex<[String: Task<ResolvedCredential?, any Error>]>([:])

    func answer(_ helper: CredentialHelper, serverURL: String, timeout: HelperTimeout) async throws(RegistryError) -> ResolvedCredential? {
        let key = "\(helper.name)|\(serverURL)"
        let task = answers.withLock { answers in
            if let running = answers[key] { return running }
            let task = Task { try await helper.get(serverURL: serverURL, timeout: timeout) }
            answers[key] = task
            return task
        }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .credentialHelper(name: helper.name, detail: "\(error)")
        }
    }
}
