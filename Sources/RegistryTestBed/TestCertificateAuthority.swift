import Foundation

/// A certificate and its private key in PEM files.
public struct TestCertificate: Sendable {
    /// The certificate (PEM).
    public var certificatePath: String
    /// Its unencrypted private key (PEM, PKCS#8).
    public var keyPath: String
}

/// A certificate authority made with the `openssl` CLI, as a person sets up
/// a private CA: a self-signed P-256 root that signs server certificates
/// (with subjectAltNames) and client certificates.
public struct TestCertificateAuthority: Sendable {
    /// The subject's CN, `hocker test CA <label>`.
    public let commonName: String
    /// The CA certificate (PEM): what clients must trust.
    public let certificatePath: String
    /// Where its files are.
    public let directory: String
    private let keyPath: String

    /// Generates a new CA in a fresh directory under the temporary directory.
    ///
    /// - Parameter label: distinguishes CAs in messages (`CN=hocker test CA <label>`).
    public static func generate(label: String) async throws -> TestCertificateAuthority {
        let directory = try makeTemporaryDirectory(prefix: "hocker-ca-\(label)")
        let commonName = "hocker test CA \(label)"
        let keyPath = directory + "/ca.key"
        let certificatePath = directory + "/ca.crt"
        _ = try await runChecked(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath,
                "-out", certificatePath, "-days", "30", "-subj", "/O=hocker test bed/CN=\(commonName)",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            timeout: .seconds(30))
        return TestCertificateAuthority(commonName: commonName, certificatePath: certificatePath, directory: directory, keyPath: keyPath)
    }

    /// A server certificate for `names` (IP addresses or DNS names, the
    /// first one also the CN); `expired` makes one whose validity ended a day ago.
    public func issueServer(names: [String], label: String, expired: Bool = false) async throws -> TestCertificate {
        let alternatives = names.map { name in
            name.allSatisfy { $0.isNumber || $0 == "." } || name.contains(":") ? "IP:\(name)" : "DNS:\(name)"
        }
        return try await issue(
            label: label, subject: "/CN=\(names.first ?? "localhost")",
            extensions: "subjectAltName=\(alternatives.joined(separator: ","))\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
            days: expired ? -1 : 30)
    }

    /// A client certificate with `commonName`.
    public func issueClient(commonName: String, label: String) async throws -> TestCertificate {
        try await issue(
            label: label, subject: "/CN=\(commonName)", extensions: "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n", days: 30)
    }

    /// Writes a certs.d-style directory at `path`: this CA as `ca.crt`, and
    /// `client` (if any) as `client.cert` + `client.key`.
    @discardableResult
    public func certDirectory(at path: String, client: TestCertificate? = nil) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: certificatePath, toPath: path + "/ca.crt")
            if let client {
                try FileManager.default.copyItem(atPath: client.certificatePath, toPath: path + "/client.cert")
                try FileManager.default.copyItem(atPath: client.keyPath, toPath: path + "/client.key")
            }
        } catch {
            throw TestBedError.fileSystem(path: path, reason: "cannot write a certificate directory: \(error)")
        }
        return path
    }

    /// Removes the CA's files (and every certificate it issued).
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func issue(label: String, subject: String, extensions: String, days: Int) async throws -> TestCertificate {
        let keyPath = directory + "/\(label).key"
        let requestPath = directory + "/\(label).csr"
        let certificatePath = directory + "/\(label).crt"
        let extensionsPath = directory + "/\(label).ext"
        try writeFile(extensionsPath, extensions)
        _ = try await runChecked(
            "openssl",
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", requestPath, "-subj", subject],
            timeout: .seconds(30))
        // A negative -days puts notAfter before now: an expired certificate.
        _ = try await runChecked(
            "openssl",
            [
                // A serial of its own: -CAcreateserial's serial file races when several are issued at once.
                "x509", "-req", "-in", requestPath, "-CA", self.certificatePath, "-CAkey", self.keyPath,
                "-set_serial", "0x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(30),
                "-days", String(days), "-extfile", extensionsPath, "-out", certificatePath,
            ],
            timeout: .seconds(30))
        return TestCertificate(certificatePath: certificatePath, keyPath: keyPath)
    }
}
