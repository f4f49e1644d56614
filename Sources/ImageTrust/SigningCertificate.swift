#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// The certificate of a keyless (Fulcio) or PKI cosign signature, checked
/// against the policy's CA offline: the chain at a given time, code
/// signing usage, and the identity it was issued to.
struct SigningCertificate: Sendable {
    let certificate: Certificate
    /// The certificate's DER, which a Rekor entry for it records.
    let der: [UInt8]

    /// The OIDC issuer extensions Fulcio writes: v1 holds the issuer's raw
    /// bytes, v2 a DER UTF8String.
    static let oidcIssuerV1: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 57264, 1, 1]
    static let oidcIssuerV2: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 57264, 1, 8]

    /// The single certificate in `pem`; any other count is refused.
    init(pem: [UInt8]) throws(CertificateProblem) {
        let blocks = PEMBlock.all(in: pem)?.filter { $0.type == "CERTIFICATE" } ?? []
        guard blocks.count == 1 else {
            throw .unreadable(blocks.isEmpty ? "no certificate in the signature's certificate data" : "more than one certificate in the signature's certificate data")
        }
        do {
            certificate = try Certificate(derEncoded: blocks[0].der)
        } catch {
            throw .unreadable("the signature's certificate cannot be parsed (\(error))")
        }
        der = blocks[0].der
    }

    /// The certificates of a PEM bundle (CA files, chains). Nil when one
    /// does not parse.
    static func certificates(in pem: [UInt8]) -> [Certificate]? {
        guard let blocks = PEMBlock.all(in: pem) else { return nil }
        var result: [Certificate] = []
        for block in blocks where block.type == "CERTIFICATE" {
            guard let certificate = try? Certificate(derEncoded: block.der) else { return nil }
            result.append(certificate)
        }
        return result
    }

    /// Builds a chain from the certificate through `intermediates` to one
    /// of `roots`, every certificate valid at `time` and allowed to sign
    /// code. Returns why not, or nil.
    func chainProblem(roots: [Certificate], intermediates: [Certificate], at time: Date) async -> String? {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            CodeSigningPolicy()
        }
        let result = await verifier.validate(leaf: certificate, intermediates: CertificateStore(intermediates))
        switch result {
        case .validCertificate:
            return nil
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            return reasons.isEmpty ? "no chain to the trusted CA" : reasons.joined(separator: "; ")
        }
    }

    /// The e-mail addresses of the Subject Alternative Name.
    var emailAddresses: [String] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { if case .rfc822Name(let email) = $0 { email } else { nil } }
    }

    /// The DNS names of the Subject Alternative Name.
    var dnsNames: [String] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { if case .dnsName(let name) = $0 { name } else { nil } }
    }

    /// The OIDC issuer Fulcio recorded: from the v1 and v2 extensions,
    /// which must agree when both are there.
    func oidcIssuer() throws(CertificateProblem) -> String {
        var v1: String?
        var v2: String?
        for item in certificate.extensions {
            if item.oid == Self.oidcIssuerV1 {
                v1 = String(decoding: item.value, as: UTF8.self)
            } else if item.oid == Self.oidcIssuerV2 {
                do {
                    v2 = String(try ASN1UTF8String(derEncoded: item.value))
                } catch {
                    throw .unreadable("the certificate's OIDC issuer (v2) extension is not a UTF8String")
                }
            }
        }
        switch (v1, v2) {
        case (let one?, let two?) where one != two: throw .unreadable("the certificate's OIDC issuer extensions disagree: \(one) and \(two)")
        case (let one?, _): return one
        case (nil, let two?): return two
        case (nil, nil): throw .unreadable("the certificate records no OIDC issuer")
        }
    }

    /// The certificate's public key.
    func publicKey() throws(CertificateProblem) -> SigstorePublicKey {
        do {
            return try SigstorePublicKey(key: certificate.publicKey)
        } catch {
            throw .unreadable("the certificate's public key cannot be used (\(error))")
        }
    }
}

/// Why a signing certificate is refused.
enum CertificateProblem: Error, Sendable, Equatable {
    case unreadable(String)
}

/// Every certificate of the chain that restricts its extended key usage
/// must allow code signing (as Go's verifier checks with
/// `ExtKeyUsageCodeSigning`); the Subject Alternative Name, often critical
/// in Fulcio's certificates, is matched by the caller.
struct CodeSigningPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.extendedKeyUsage, .X509ExtensionID.subjectAlternativeName,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        for certificate in chain {
            guard let usage = try? certificate.extensions.extendedKeyUsage else {
                if certificate.extensions[oid: .X509ExtensionID.extendedKeyUsage] != nil {
                    return .failsToMeetPolicy(reason: "a certificate's extended key usage cannot be parsed")
                }
                continue
            }
            if !usage.contains(.codeSigning), !usage.contains(.any) {
                return .failsToMeetPolicy(reason: "a certificate of the chain is not allowed to sign code")
            }
        }
        return .meetsPolicy
    }
}
