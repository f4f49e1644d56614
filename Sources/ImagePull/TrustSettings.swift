#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageReference
import ImageTrust
import RegistryClient

/// What a run needs to verify signatures, read once before its first
/// request: the policy (containers-policy.json), where signatures are
/// (registries.d), the keys and certificates the policy names, and the
/// OpenPGP verifier.
public struct TrustSettings: Sendable {
    /// Which policy the run applies.
    public enum Policy: Sendable {
        /// No policy file exists where one is looked for: images are taken
        /// as they are, as without any policy (skopeo would refuse to run).
        case absent(searched: [String])
        /// `--insecure-policy`: nothing is verified, whatever the files say.
        case insecure
        /// A policy file, parsed.
        case file(TrustPolicy)
    }

    public var policy: Policy
    /// The registries.d files, merged.
    public var storage: SignatureStorageConfiguration
    /// The lookaside used when registries.d names none (see
    /// ``SignatureSources/builtinLookaside(isRoot:home:)``).
    public var builtinLookaside: String
    /// The files the policy names (keys, CA certificates, Rekor keys), by path, as read.
    public var keyFiles: [String: [UInt8]]
    /// Those that could not be read, with why: refused when a requirement needs them.
    public var unreadableKeyFiles: [String: String]
    /// Verifies simple-signing signatures (gpgv).
    public var openPGP: any OpenPGPVerifier
    /// The time certificates are checked at (Fulcio's at their Rekor entry's time).
    public var now: Date

    public init(
        policy: Policy, storage: SignatureStorageConfiguration = .init(), builtinLookaside: String = "file:///var/lib/containers/sigstore",
        keyFiles: [String: [UInt8]] = [:], unreadableKeyFiles: [String: String] = [:], openPGP: any OpenPGPVerifier = UnavailableOpenPGP(),
        now: Date = Date()
    ) {
        self.policy = policy
        self.storage = storage
        self.builtinLookaside = builtinLookaside
        self.keyFiles = keyFiles
        self.unreadableKeyFiles = unreadableKeyFiles
        self.openPGP = openPGP
        self.now = now
    }

    /// No policy: what a run that verifies nothing uses.
    public static let none = TrustSettings(policy: .absent(searched: []))

    /// The policy file in force, nil when none is.
    public var policyFile: TrustPolicy? {
        if case .file(let policy) = policy { return policy }
        return nil
    }
}

/// An OpenPGP verifier that cannot run: the reason (gpgv is not installed)
/// is thrown when a signature needs it, not before.
public struct UnavailableOpenPGP: OpenPGPVerifier {
    public var error: GPGVError

    public init(error: GPGVError = .notFound(searched: "PATH")) {
        self.error = error
    }

    public func verify(message: [UInt8], keyring: [UInt8]) async throws -> OpenPGPOutcome {
        throw error
    }
}

/// A file the trust settings name that cannot be used.
public struct TrustFileError: UserFacingError, Equatable {
    public var path: String
    public var reason: String
    /// What the file was for: `policy file`, `registries.d directory`.
    public var role: String

    public var message: String { "\(role) \(path): \(reason)" }

    public var hints: [String] {
        switch role {
        case "policy file": ["give a readable file with --policy, or leave it out to use ~/.config/containers/policy.json or /etc/containers/policy.json"]
        case "registries.d directory": ["give an existing directory of *.yaml files with --registries.d"]
        default: ["make it readable, or remove it from the directory (containers-registries.d(5))"]
        }
    }

    public var exitStatus: ExitStatus { .usage }
}

/// Finds and reads what ``TrustSettings`` holds, as containers/image finds it.
///
/// - The policy: `--policy FILE`; else `$XDG_CONFIG_HOME/containers/policy.json`
///   (`~/.config/…` without it) when it exists; else
///   `/etc/containers/policy.json`; none of them: no policy.
/// - registries.d: `--registries.d DIR`; else
///   `$XDG_CONFIG_HOME/containers/registries.d` (`~/.config/…`) when it
///   exists; else `/etc/containers/registries.d`; its `*.yaml` files merged.
/// - Every file the policy names, read once, each at most 1 MiB.
public enum TrustFiles {
    /// The settings from the flags, the environment and the files they name.
    ///
    /// - Parameter systemDirectory: where the system-wide files are (`/etc/containers`).
    public static func load(
        policy explicitPolicy: String?, insecurePolicy: Bool, registriesD explicitDirectory: String?, environment: [String: String],
        systemDirectory: String = "/etc/containers"
    ) throws -> TrustSettings {
        let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home(environment))/.config"
        var settings = TrustSettings(policy: .insecure)
        if !insecurePolicy {
            // A policy named explicitly must be there; of the default places, the first that exists.
            let candidates = explicitPolicy.map { [$0] } ?? ["\(configHome)/containers/policy.json", "\(systemDirectory)/policy.json"]
            if let path = explicitPolicy ?? candidates.first(where: isFile) {
                settings.policy = .file(try TrustPolicy(parsing: try read(path, role: "policy file", limit: 1 << 20), file: path))
            } else {
                settings.policy = .absent(searched: candidates)
            }
        }
        guard let policy = settings.policyFile else { return settings }
        settings.storage = try storage(explicit: explicitDirectory, configHome: configHome, systemDirectory: systemDirectory)
        settings.builtinLookaside = builtinLookaside(environment: environment)
        for path in paths(named: policy) {
            do {
                settings.keyFiles[path] = try read(path, role: "key file", limit: 1 << 20)
            } catch {
                settings.unreadableKeyFiles[path] = error.reason
            }
        }
        do {
            settings.openPGP = try GPGVVerifier(environment: environment)
        } catch {
            settings.openPGP = UnavailableOpenPGP(error: error)
        }
        return settings
    }

    /// The registries.d files of the directory in use, merged.
    static func storage(explicit: String?, configHome: String, systemDirectory: String) throws -> SignatureStorageConfiguration {
        let user = "\(configHome)/containers/registries.d"
        let directory = explicit ?? (isDirectory(user) ? user : "\(systemDirectory)/registries.d")
        guard isDirectory(directory) else {
            if let explicit { throw TrustFileError(path: explicit, reason: "no such directory", role: "registries.d directory") }
            return SignatureStorageConfiguration()
        }
        guard let names = LocalFile.names(in: directory)?.filter({ $0.hasSuffix(".yaml") }) else {
            throw TrustFileError(path: directory, reason: "it cannot be listed", role: "registries.d directory")
        }
        var files: [(name: String, contents: [UInt8])] = []
        for name in names where isFile("\(directory)/\(name)") {
            files.append(("\(directory)/\(name)", try read("\(directory)/\(name)", role: "registries.d file", limit: 1 << 20)))
        }
        return try SignatureStorageConfiguration(files: files)
    }

    /// Every key or certificate file any scope of the policy names, each once.
    static func paths(named policy: TrustPolicy) -> [String] {
        var requirements = policy.defaultRequirements
        for scopes in policy.transports.values {
            for scope in scopes.keys.sorted() { requirements += scopes[scope] ?? [] }
        }
        var seen: Set<String> = []
        return requirements.flatMap(\.filesToRead).filter { seen.insert($0).inserted }
    }

    /// The built-in lookaside: the system's for root, else the user's data directory's.
    static func builtinLookaside(environment: [String: String]) -> String {
        if geteuid() == 0 { return SignatureSources.builtinLookaside(isRoot: true, home: home(environment)) }
        if let dataHome = environment["XDG_DATA_HOME"].flatMap({ $0.isEmpty ? nil : $0 }) { return "file://\(dataHome)/containers/sigstore" }
        return SignatureSources.builtinLookaside(isRoot: false, home: home(environment))
    }

    static func home(_ environment: [String: String]) -> String {
        LocalFile.home(environment)
    }

    /// A file's bytes, at most `limit` of them; why not, in the system's words.
    static func read(_ path: String, role: String, limit: Int) throws(TrustFileError) -> [UInt8] {
        guard !isDirectory(path) else { throw TrustFileError(path: path, reason: "it is a directory, not a file", role: role) }
        do {
            return Array(try LocalFile.read(path, limit: limit))
        } catch {
            throw TrustFileError(path: path, reason: error.reason, role: role)
        }
    }

    static func isFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) != S_IFDIR
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }
}
