#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOSSL
import Synchronization

/// Which CA roots a run trusts and which client certificate it presents,
/// host by host, gathered as docker, podman and OpenSSL users configure them:
///
/// 1. `--cert-dir DIR` (skopeo's flag), for every host of the run; else the
///    first existing per-registry directory `ROOT/HOST:PORT` of
///    ``defaultPerHostRoots(environment:)``:
///    `$XDG_CONFIG_HOME/containers/certs.d` (or `~/.config/containers/certs.d`),
///    `/etc/containers/certs.d`, `/etc/docker/certs.d`. Its `*.crt` roots
///    are added to the base roots; its `NAME.cert`/`NAME.key` pair is the
///    client certificate (``CertificateDirectory``).
/// 2. The base roots (``BaseTrust``): `NIX_SSL_CERT_FILE`, else
///    `SSL_CERT_FILE` (a bundle that replaces the system roots, as OpenSSL
///    takes it; an empty value or a missing file is skipped), else
///    `SSL_CERT_DIR`, else the system bundle.
///
/// With `insecure`, certificates are not verified (a client certificate is
/// still presented). Directories are read when a host is first contacted;
/// the TLS configuration of each host is kept for the run.
public final class TLSTrust: Sendable {
    /// The roots every host's trust starts from.
    public let base: BaseTrust
    /// `--cert-dir`, read at creation.
    public let certDirectory: CertificateDirectory?
    /// The directories in which `HOST:PORT` is looked up, in order.
    public let perHostRoots: [String]
    /// Whether verification is off (`--insecure`).
    public let insecure: Bool
    private let configurations = Mutex<[String: TLSConfiguration]>([:])

    /// - Parameters:
    ///   - certDirectory: `--cert-dir`, used for every host instead of the per-registry directories.
    ///   - perHostRoots: where per-registry directories are looked up; nil for ``defaultPerHostRoots(environment:)``.
    ///   - environment: for `NIX_SSL_CERT_FILE`, `SSL_CERT_FILE`, `SSL_CERT_DIR`, `XDG_CONFIG_HOME` and `HOME`.
    ///   - insecure: no verification at all.
    /// - Throws: ``RegistryError/unusableCertificates(path:detail:)`` for a
    ///   `--cert-dir` or a CA file from the environment that cannot be used.
    public init(certDirectory: String?, perHostRoots: [String]? = nil, environment: [String: String], insecure: Bool) throws(RegistryError) {
        base = try Self.baseTrust(environment: environment)
        self.certDirectory = try certDirectory.map { path throws(RegistryError) in try CertificateDirectory(path: path) }
        self.perHostRoots = perHostRoots ?? Self.defaultPerHostRoots(environment: environment)
        self.insecure = insecure
    }

    /// `$XDG_CONFIG_HOME/containers/certs.d` (or `$HOME/.config/containers/certs.d`),
    /// `/etc/containers/certs.d`, `/etc/docker/certs.d`.
    public static func defaultPerHostRoots(environment: [String: String]) -> [String] {
        var roots: [String] = []
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty {
            roots.append(config + "/containers/certs.d")
        } else if let home = environment["HOME"], !home.isEmpty {
            roots.append(home + "/.config/containers/certs.d")
        }
        return roots + ["/etc/containers/certs.d", "/etc/docker/certs.d"]
    }

    /// The per-registry directories for `host` (`HOST[:PORT]` as in URLs), in lookup order.
    public func perHostCandidates(host: String) -> [String] {
        perHostRoots.map { $0 + "/" + host }
    }

    /// The directory whose certificates apply to `host`: `--cert-dir`, else
    /// the first per-registry directory that exists; nil for none.
    public func directory(forHost host: String) throws(RegistryError) -> CertificateDirectory? {
        if let certDirectory { return certDirectory }
        var isDirectory: Bool = false
        guard let path = perHostCandidates(host: host).first(where: { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory })
        else { return nil }
        return try CertificateDirectory(path: path)
    }

    /// The TLS configuration for connections to `host` (`HOST[:PORT]`).
    public func configuration(forHost host: String) throws(RegistryError) -> TLSConfiguration {
        let key = host.lowercased()
        if let known = configurations.withLock({ $0[key] }) { return known }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch base {
        case .system:
            tls.trustRoots = Self.systemRoots
        case .file(let path, _):
            tls.trustRoots = .file(path)
        case .directories(let paths, _):
            tls.trustRoots = .file(paths[0])
            tls.additionalTrustRoots = paths.dropFirst().map { .file($0) }
        }
        let directory = try directory(forHost: key)
        if let directory {
            if !directory.roots.isEmpty { tls.additionalTrustRoots.append(.certificates(directory.roots)) }
            if let identity = directory.identity {
                tls.certificateChain = identity.chain.map { .certificate($0) }
                tls.privateKey = .privateKey(identity.key)
            }
        }
        if insecure { tls.certificateVerification = .none }
        configurations.withLock { $0[key] = tls }
        return tls
    }

    /// The client certificate presented to `host`, for messages.
    public func clientCertificatePath(forHost host: String) -> String? {
        guard let directory = try? directory(forHost: host.lowercased()) else { return nil }
        return directory.identity?.certificatePath
    }

    // MARK: The base roots

    /// Reads the base roots from the environment: `NIX_SSL_CERT_FILE`, then
    /// `SSL_CERT_FILE`, then `SSL_CERT_DIR` (colon-separated directories of
    /// hashed certificates, as OpenSSL reads them); else the system's.
    ///
    /// An unset or empty variable, or one naming no existing file
    /// (nixpkgs' stdenv sets `SSL_CERT_FILE=/no-cert-file.crt`), is skipped;
    /// an existing file that holds no certificate is an error naming it.
    public static func baseTrust(environment: [String: String]) throws(RegistryError) -> BaseTrust {
        let fileManager = FileManager.default
        for variable in ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"] {
            guard let path = environment[variable], !path.isEmpty else { continue }
            var isDirectory: Bool = false
            guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory else { continue }
            // A look for a PEM block, not a parse: BoringSSL reads the bundle
            // anyway, and a system-sized one costs to parse twice.
            guard let contents = fileManager.contents(atPath: path), contents.firstRange(of: Data("-----BEGIN CERTIFICATE-----".utf8)) != nil else {
                throw .unusableCertificates(path: path, detail: "\(variable) names it, but it holds no readable PEM certificate")
            }
            return .file(path, variable: variable)
        }
        if let list = environment["SSL_CERT_DIR"], !list.isEmpty {
            let directories = list.split(separator: ":").map(String.init).filter { path in
                var isDirectory: Bool = false
                return fileManager.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory
            }
            if !directories.isEmpty { return .directories(directories, variable: "SSL_CERT_DIR") }
        }
        return .system
    }

    /// The system bundle: swift-nio-ssl's default (Debian's and Fedora's
    /// paths), or the first of the bundles other distributions keep when
    /// neither of those exists; with none at all (the Nix sandbox), no
    /// roots, so a handshake still happens and fails as untrusted rather
    /// than the TLS context failing to load.
    static let systemRoots: NIOSSLTrustRoots = {
        #if os(Linux)
        let fileManager = FileManager.default
        let known = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs"]
        let others = ["/etc/ssl/ca-bundle.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem", "/etc/ssl/certs/ca-bundle.crt"]
        if known.contains(where: { fileManager.fileExists(atPath: $0) }) { return .default }
        if let other = others.first(where: { fileManager.fileExists(atPath: $0) }) { return .file(other) }
        return .certificates([])
        #else
        return .default
        #endif
    }()

    /// Whether the machine has a system bundle at all.
    static var hasSystemRoots: Bool {
        if case .certificates = systemRoots { return false }
        return true
    }
}

/// Where the CA roots every host starts from come from.
public enum BaseTrust: Sendable, Equatable, CustomStringConvertible {
    /// The system bundle.
    case system
    /// A bundle named by `variable` (`NIX_SSL_CERT_FILE` or `SSL_CERT_FILE`), in place of the system's.
    case file(String, variable: String)
    /// Directories of hashed certificates named by `SSL_CERT_DIR`, in place of the system's.
    case directories([String], variable: String)

    /// `the system bundle`, `SSL_CERT_FILE=/path`.
    public var description: String {
        switch self {
        case .system: TLSTrust.hasSystemRoots ? "the system bundle" : "nothing (no system bundle found)"
        case .file(let path, let variable): "\(variable)=\(path)"
        case .directories(let paths, let variable): "\(variable)=\(paths.joined(separator: ":"))"
        }
    }
}
