#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import _CryptoExtras
import SwiftASN1
import X509

/// One PEM block: its type (`PUBLIC KEY`, `CERTIFICATE`) and DER bytes.
struct PEMBlock: Sendable, Equatable {
    var type: String
    var der: [UInt8]

    /// Every block of `bytes` in order; text between blocks is ignored.
    /// Nil when a block is not closed or its body is not base64.
    static func all(in bytes: [UInt8]) -> [PEMBlock]? {
        let text = String(decoding: bytes, as: UTF8.self)
        var blocks: [PEMBlock] = []
        var current: (type: String, body: String)?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingTrailingWhitespace().drop { $0 == " " || $0 == "\t" }
            if let open = current {
                if line == "-----END \(open.type)-----" {
                    guard let data = Data(base64Encoded: open.body) else { return nil }
                    blocks.append(PEMBlock(type: open.type, der: Array(data)))
                    current = nil
                } else if !line.contains(":") {
                    current?.body += line
                }
            } else if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 {
                current = (String(line.dropFirst(11).dropLast(5)), "")
            }
        }
        return current == nil ? blocks : nil
    }

    /// Whether `bytes` is exactly one PEM block, with nothing but white space after it.
    static func single(in bytes: [UInt8]) -> PEMBlock? {
        guard let blocks = all(in: bytes), blocks.count == 1 else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.firstRange(of: "-----END "), let close = text[end.upperBound...].firstRange(of: "-----") else { return nil }
        return text[close.upperBound...].allSatisfy(\.isWhitespace) ? blocks[0] : nil
    }
}

/// A public key that verifies cosign signatures and Rekor SETs: ECDSA
/// (P-256, P-384, P-521), Ed25519 or RSA, from a PEM `PUBLIC KEY`
/// (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS #1) block, or from a
/// certificate.
public struct SigstorePublicKey: Sendable {
    let key: Certificate.PublicKey
    /// The DER SubjectPublicKeyInfo: what a Rekor entry for a key records.
    let subjectPublicKeyInfo: [UInt8]

    /// Reads the first PEM block of `pem`, as cosign's libraries do.
    public init(pem: [UInt8]) throws(SignatureFormatError) {
        guard let block = PEMBlock.all(in: pem)?.first else { throw .unrecognizedBlob("no PEM public key in it") }
        do {
            switch block.type {
            case "PUBLIC KEY":
                try self.init(key: Certificate.PublicKey(derEncoded: block.der))
            case "RSA PUBLIC KEY":
                try self.init(key: Certificate.PublicKey(_RSA.Signing.PublicKey(derRepresentation: block.der)))
            default:
                throw SignatureFormatError.unrecognizedBlob("a PEM \(block.type) is not a public key")
            }
        } catch let error as SignatureFormatError {
            throw error
        } catch {
            throw .unrecognizedBlob("the public key cannot be read (\(error))")
        }
    }

    init(key: Certificate.PublicKey) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(key)
        self.key = key
        self.subjectPublicKeyInfo = serializer.serializedBytes
    }

    /// `SHA256:<hex>` of the DER SubjectPublicKeyInfo: how a verdict names a key.
    public var fingerprint: String {
        "SHA256:" + SHA256.hash(data: subjectPublicKeyInfo).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Whether the key is an ECDSA key (Rekor keys must be).
    var isECDSA: Bool {
        P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil || P521.Signing.PublicKey(key) != nil
    }

    /// Verifies a signature the way cosign makes them: ECDSA (ASN.1 DER)
    /// and RSA over the SHA-256 of `message` (RSA as PKCS #1 v1.5, or PSS),
    /// Ed25519 over `message` itself.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        let digest = SHA256.hash(data: message)
        if let p256 = P256.Signing.PublicKey(key) {
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return p256.isValidSignature(parsed, for: digest)
        }
        if let p384 = P384.Signing.PublicKey(key) {
            guard let parsed = try? P384.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return p384.isValidSignature(parsed, for: digest)
        }
        if let p521 = P521.Signing.PublicKey(key) {
            guard let parsed = try? P521.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return p521.isValidSignature(parsed, for: digest)
        }
        if let ed25519 = Curve25519.Signing.PublicKey(key) {
            return ed25519.isValidSignature(signature, for: message)
        }
        if let rsa = _RSA.Signing.PublicKey(key) {
            let parsed = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return rsa.isValidSignature(parsed, for: digest, padding: .insecurePKCS1v1_5) || rsa.isValidSignature(parsed, for: digest, padding: .PSS)
        }
        return false
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
