#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOSSL

/// A directory of certificates laid out as containers-certs.d(5) describes
/// (the layout of `--cert-dir`, of `~/.config/containers/certs.d/HOST:PORT`,
/// `/etc/containers/certs.d/HOST:PORT` and `/etc/docker/certs.d/HOST:PORT`):
///
/// - every `*.crt` file holds CA certificates, trusted in addition to the
///   base roots;
/// - a `NAME.cert` file and the `NAME.key` beside it are a client
///   certificate (chain first) and its private key. A `.cert` without its
///   `.key`, or a `.key` without its `.cert`, is an error naming the file.
///
/// Other files are ignored. With several pairs the first by name is used.
public struct CertificateDirectory: Sendable {
    /// A client certificate and its key, with the files they came from.
    public struct ClientIdentity: Sendable {
        /// `NAME.cert`.
        public var certificatePath: String
        /// `NAME.key`.
        public var keyPath: String
        /// The certificate chain, leaf first.
        public var chain: [NIOSSLCertificate]
        /// The private key of the leaf.
        public var key: NIOSSLPrivateKey
    }

    /// The directory.
    public let path: String
    /// The CA certificates of every `*.crt` file, in file name order.
    public let roots: [NIOSSLCertificate]
    /// The `*.crt` files read.
    public let rootFiles: [String]
    /// The client certificate, if the directory has a `.cert`/`.key` pair.
    public let identity: ClientIdentity?

    /// Reads the directory.
    ///
    /// - Throws: ``RegistryError/unusableCertificates(path:detail:)`` naming
    ///   the directory or the file that cannot be used.
    public init(path: String) throws(RegistryError) {
        self.path = path
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw .unusableCertificates(path: path, detail: "it is not a readable directory")
        }
        var roots: [NIOSSLCertificate] = []
        var rootFiles: [String] = []
        for name in names where name.hasSuffix(".crt") {
            let file = path + "/" + name
            roots += try Self.certificates(in: file)
            rootFiles.append(file)
        }
        let certNames = Set(names.filter { $0.hasSuffix(".cert") }.map { String($0.dropLast(5)) })
        let keyNames = Set(names.filter { $0.hasSuffix(".key") }.map { String($0.dropLast(4)) })
        if let lonely = certNames.subtracting(keyNames).sorted().first {
            throw .unusableCertificates(path: path + "/" + lonely + ".cert", detail: "the client certificate has no key \(lonely).key beside it")
        }
        if let lonely = keyNames.subtracting(certNames).sorted().first {
            throw .unusableCertificates(path: path + "/" + lonely + ".key", detail: "the key has no client certificate \(lonely).cert beside it")
        }
        var identity: ClientIdentity?
        if let name = certNames.sorted().first {
            let certificatePath = path + "/" + name + ".cert"
            let keyPath = path + "/" + name + ".key"
            let key: NIOSSLPrivateKey
            do {
                key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            } catch {
                throw .unusableCertificates(path: keyPath, detail: "it holds no PEM private key (an unencrypted one is needed)")
            }
            identity = ClientIdentity(certificatePath: certificatePath, keyPath: keyPath, chain: try Self.certificates(in: certificatePath), key: key)
        }
        self.roots = roots
        self.rootFiles = rootFiles
        self.identity = identity
    }

    /// The PEM certificates in `file`; none is an error naming it.
    static func certificates(in file: String) throws(RegistryError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw .unusableCertificates(path: file, detail: "it cannot be read")
        }
        let certificates = (try? NIOSSLCertificate.fromPEMFile(file)) ?? []
        guard !certificates.isEmpty else { throw .unusableCertificates(path: file, detail: "it holds no PEM certificate") }
        return certificates
    }
}
