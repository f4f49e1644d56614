import Crypto
import Foundation

/// A P-256 signing key with a matching self-signed certificate, made with the `openssl` CLI.
///
/// distribution 2.8 verifies the `x5c` chain of a token against its `rootcertbundle`;
/// the token server puts this certificate in `x5c` and the registry trusts the same
/// file, so the self-signed certificate is both the chain and the root.
public struct TokenSigningKey: Sendable {
    /// The private key in PEM form (PKCS#8, as `openssl req -newkey ec` writes it).
    public let privateKeyPEM: String
    /// The certificate in PEM form.
    public let certificatePEM: String
    /// The certificate's DER bytes in standard base64: the JWT header's `x5c[0]`.
    public let certificateDERBase64: String
    /// Where the certificate PEM was written (the registry's `rootcertbundle`).
    public let certificatePath: String
    /// Where the private key PEM was written.
    public let privateKeyPath: String

    /// Generates a new key and certificate in `directory` with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes`.
    ///
    /// - Parameter commonName: the certificate subject's CN.
    public static func generate(in directory: String, commonName: String = "hocker-test-issuer") async throws -> TokenSigningKey {
        let keyPath = (directory as NSString).appendingPathComponent("token-signing-key.pem")
        let certificatePath = (directory as NSString).appendingPathComponent("token-signing-cert.pem")
        _ = try await runChecked(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", keyPath, "-out", certificatePath, "-days", "3650", "-subj", "/CN=\(commonName)",
            ],
            timeout: .seconds(30))
        let keyPEM: String
        let certificatePEM: String
        do {
            keyPEM = try String(contentsOfFile: keyPath, encoding: .utf8)
            certificatePEM = try String(contentsOfFile: certificatePath, encoding: .utf8)
        } catch {
            throw TestBedError.keyGenerationFailed(reason: "cannot read openssl output in \(directory): \(error)")
        }
        do {
            _ = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        } catch {
            throw TestBedError.keyGenerationFailed(reason: "swift-crypto rejects the key openssl wrote: \(error)")
        }
        guard let derBase64 = Self.firstPEMBlockBase64(certificatePEM, label: "CERTIFICATE") else {
            throw TestBedError.keyGenerationFailed(reason: "no CERTIFICATE block in \(certificatePath)")
        }
        return TokenSigningKey(
            privateKeyPEM: keyPEM, certificatePEM: certificatePEM, certificateDERBase64: derBase64,
            certificatePath: certificatePath, privateKeyPath: keyPath)
    }

    /// The base64 body of the first PEM block with `label`, joined onto one line.
    static func firstPEMBlockBase64(_ pem: String, label: String) -> String? {
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end, range: start.upperBound..<pem.endIndex) else {
            return nil
        }
        let body = pem[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard !body.isEmpty, Data(base64Encoded: String(body)) != nil else { return nil }
        return String(body)
    }
}
