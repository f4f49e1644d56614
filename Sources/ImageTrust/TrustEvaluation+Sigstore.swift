#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

/// A `sigstoreSigned` requirement's keys and certificates, read and parsed.
struct SigstoreTrustRoot: Sendable {
    enum Keys: Sendable {
        case publicKeys([SigstorePublicKey])
        case fulcio(roots: [Certificate], issuer: String, email: String)
        case pki(roots: [Certificate], intermediates: [Certificate], email: String?, hostname: String?)
    }

    var keys: Keys
    /// Set when the signature must carry a Rekor SET.
    var rekorKeys: [SigstorePublicKey]?
}

/// Who made a sigstore signature, for the proof.
struct SigstoreSigner: Sendable {
    var key: SigstorePublicKey
    var keyFingerprint: String?
    var certificateIdentity: String?
    var certificateIssuer: String?
}

extension TrustEvaluation {
    /// `sigstoreSigned`: one cosign signature layer whose signature, key or
    /// certificate, and Rekor SET satisfy the requirement, and whose payload
    /// names this manifest and an accepted identity.
    func evaluate(_ requirement: SigstoreSignedRequirement) async -> RequirementVerdict {
        let type = "sigstoreSigned"
        let root: SigstoreTrustRoot
        switch trustRoot(requirement) {
        case .success(let prepared): root = prepared
        case .failure(let reason): return refused(type, reason)
        }
        var refusals: [SignatureRefusal] = []
        var others = 0
        for evidence in signatures {
            guard case .sigstore(let signature) = evidence.content, signature.mediaType == SigstoreSignature.signatureMediaType else {
                others += 1
                continue
            }
            switch await check(signature, root: root, rule: requirement.signedIdentity) {
            case .success(let (signer, claims)):
                let proof = TrustProof(
                    type: type, keyFingerprint: signer.keyFingerprint, certificateIdentity: signer.certificateIdentity,
                    certificateIssuer: signer.certificateIssuer, signedIdentity: claims.dockerReference, signature: evidence.location)
                return RequirementVerdict(type: type, proof: proof, refusals: refusals)
            case .failure(let reason):
                refusals.append(SignatureRefusal(signature: evidence.location, reason: reason))
            }
        }
        if refusals.isEmpty { return refused(type, .noSignature(searched: searched, otherSignatures: others)) }
        return RequirementVerdict(type: type, proof: nil, refusals: refusals)
    }

    /// One signature: who made it, then its payload checked.
    private func check(_ signature: SigstoreSignature, root: SigstoreTrustRoot, rule: SignedIdentityRule) async -> Result<(SigstoreSigner, SignedClaims), TrustRefusal> {
        guard let encoded = signature.annotations[SigstoreSignature.signatureAnnotation] else {
            return .failure(.malformedSignature(reason: "no \(SigstoreSignature.signatureAnnotation) annotation"))
        }
        guard let signatureBytes = base64Bytes(encoded) else {
            return .failure(.malformedSignature(reason: "the \(SigstoreSignature.signatureAnnotation) annotation is not base64"))
        }
        let signer: SigstoreSigner
        switch await self.signer(of: signature, signatureBytes: signatureBytes, root: root) {
        case .success(let found): signer = found
        case .failure(let reason): return .failure(reason)
        }
        guard signer.key.isValidSignature(signatureBytes, for: signature.payload) else {
            return .failure(.badSignature(reason: "the signature over the payload does not verify with \(signer.keyFingerprint ?? signer.certificateIdentity ?? "the key")"))
        }
        switch SignedClaims.parse(signature.payload, kind: .sigstore) {
        case .failure(let error): return .failure(.invalidPayload(reason: error.reason))
        case .success(let claims):
            if let problem = claimsProblem(claims, rule: rule) { return .failure(problem) }
            return .success((signer, claims))
        }
    }

    /// The key that must have made the signature, after the Rekor SET and
    /// the certificate (if any) were checked.
    private func signer(of signature: SigstoreSignature, signatureBytes: [UInt8], root: SigstoreTrustRoot) async -> Result<SigstoreSigner, TrustRefusal> {
        switch root.keys {
        case .publicKeys(let keys):
            return keyedSigner(signature, signatureBytes: signatureBytes, keys: keys, rekorKeys: root.rekorKeys)
        case .fulcio(let roots, let issuer, let email):
            guard let rekorKeys = root.rekorKeys else { return .failure(.rekorFailure(reason: "no Rekor key in the policy")) }
            return await fulcioSigner(signature, signatureBytes: signatureBytes, roots: roots, issuer: issuer, email: email, rekorKeys: rekorKeys)
        case .pki(let roots, let intermediates, let email, let hostname):
            return await pkiSigner(signature, roots: roots, intermediates: intermediates, email: email, hostname: hostname)
        }
    }

    private func keyedSigner(
        _ signature: SigstoreSignature, signatureBytes: [UInt8], keys: [SigstorePublicKey], rekorKeys: [SigstorePublicKey]?
    ) -> Result<SigstoreSigner, TrustRefusal> {
        var candidates = keys
        if let rekorKeys {
            guard let bundle = signature.annotations[SigstoreSignature.bundleAnnotation] else {
                return .failure(.malformedSignature(reason: "no \(SigstoreSignature.bundleAnnotation) annotation (a Rekor SET is required)"))
            }
            var failures: [String] = []
            candidates = []
            for key in keys {
                switch RekorSET.verify(
                    bundle: bundle, rekorKeys: rekorKeys, keyOrCertificateDER: key.subjectPublicKeyInfo, signature: signatureBytes, payload: signature.payload)
                {
                case .success: candidates = [key]
                case .failure(let error): failures.append(error.reason)
                }
                if !candidates.isEmpty { break }
            }
            guard !candidates.isEmpty else { return .failure(.rekorFailure(reason: Array(Set(failures)).sorted().joined(separator: "; "))) }
        }
        guard let key = candidates.first(where: { $0.isValidSignature(signatureBytes, for: signature.payload) }) else {
            return .failure(.badSignature(reason: "not made by the policy's key\(keys.count == 1 ? "" : "s") \(keys.map(\.fingerprint).joined(separator: ", "))"))
        }
        return .success(SigstoreSigner(key: key, keyFingerprint: key.fingerprint))
    }

    private func fulcioSigner(
        _ signature: SigstoreSignature, signatureBytes: [UInt8], roots: [Certificate], issuer: String, email: String, rekorKeys: [SigstorePublicKey]
    ) async -> Result<SigstoreSigner, TrustRefusal> {
        guard let bundle = signature.annotations[SigstoreSignature.bundleAnnotation] else {
            return .failure(.malformedSignature(reason: "no \(SigstoreSignature.bundleAnnotation) annotation (a Rekor SET is required)"))
        }
        let certificate: SigningCertificate
        switch signingCertificate(signature) {
        case .success(let found): certificate = found
        case .failure(let reason): return .failure(reason)
        }
        let integratedTime: Date
        switch RekorSET.verify(bundle: bundle, rekorKeys: rekorKeys, keyOrCertificateDER: certificate.der, signature: signatureBytes, payload: signature.payload) {
        case .success(let time): integratedTime = time
        case .failure(let error): return .failure(.rekorFailure(reason: error.reason))
        }
        guard let intermediates = chainIntermediates(signature) else {
            return .failure(.certificateChainFailure(reason: "the \(SigstoreSignature.chainAnnotation) annotation is not PEM certificates"))
        }
        if let problem = await certificate.chainProblem(roots: roots, intermediates: intermediates, at: integratedTime) {
            return .failure(.certificateChainFailure(reason: "\(problem) (checked at the Rekor entry's time, \(integratedTime))"))
        }
        let found: String
        do {
            found = try certificate.oidcIssuer()
        } catch {
            return .failure(.certificateChainFailure(reason: error.reason))
        }
        guard found == issuer else { return .failure(.issuerNotAllowed(found: found, required: issuer)) }
        guard certificate.emailAddresses.contains(email) else { return .failure(.identityNotAllowed(found: certificate.emailAddresses, required: email)) }
        return certificateSigner(certificate, identity: email, issuer: issuer)
    }

    private func pkiSigner(
        _ signature: SigstoreSignature, roots: [Certificate], intermediates: [Certificate], email: String?, hostname: String?
    ) async -> Result<SigstoreSigner, TrustRefusal> {
        let certificate: SigningCertificate
        switch signingCertificate(signature) {
        case .success(let found): certificate = found
        case .failure(let reason): return .failure(reason)
        }
        guard let chain = chainIntermediates(signature) else {
            return .failure(.certificateChainFailure(reason: "the \(SigstoreSignature.chainAnnotation) annotation is not PEM certificates"))
        }
        if let problem = await certificate.chainProblem(roots: roots, intermediates: intermediates + chain, at: now) {
            return .failure(.certificateChainFailure(reason: problem))
        }
        if let email, !certificate.emailAddresses.contains(email) {
            return .failure(.identityNotAllowed(found: certificate.emailAddresses, required: email))
        }
        if let hostname, !certificate.dnsNames.contains(where: { Self.hostname(hostname, matches: $0) }) {
            return .failure(.identityNotAllowed(found: certificate.dnsNames, required: hostname))
        }
        return certificateSigner(certificate, identity: email ?? hostname, issuer: certificate.certificate.issuer.description)
    }

    private func certificateSigner(_ certificate: SigningCertificate, identity: String?, issuer: String) -> Result<SigstoreSigner, TrustRefusal> {
        do {
            return .success(SigstoreSigner(key: try certificate.publicKey(), certificateIdentity: identity, certificateIssuer: issuer))
        } catch {
            return .failure(.certificateChainFailure(reason: error.reason))
        }
    }

    private func signingCertificate(_ signature: SigstoreSignature) -> Result<SigningCertificate, TrustRefusal> {
        guard let pem = signature.annotations[SigstoreSignature.certificateAnnotation] else {
            return .failure(.malformedSignature(reason: "no \(SigstoreSignature.certificateAnnotation) annotation"))
        }
        do {
            return .success(try SigningCertificate(pem: Array(pem.utf8)))
        } catch {
            return .failure(.certificateChainFailure(reason: error.reason))
        }
    }

    /// The chain annotation's certificates but the last (the root, which
    /// only the policy may supply); nil when it does not parse.
    private func chainIntermediates(_ signature: SigstoreSignature) -> [Certificate]? {
        guard let pem = signature.annotations[SigstoreSignature.chainAnnotation], !pem.isEmpty else { return [] }
        guard let chain = SigningCertificate.certificates(in: Array(pem.utf8)), !chain.isEmpty else { return nil }
        return Array(chain.dropLast())
    }

    /// A DNS name of a certificate matching `hostname`, with a `*` first label matching one label.
    static func hostname(_ hostname: String, matches name: String) -> Bool {
        let host = hostname.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        let pattern = name.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        guard host.count == pattern.count, !host.isEmpty else { return false }
        return zip(host, pattern).enumerated().allSatisfy { index, pair in pair.0 == pair.1 || (index == 0 && pair.1 == "*" && !pair.0.isEmpty) }
    }
}

extension CertificateProblem {
    var reason: String {
        switch self {
        case .unreadable(let reason): reason
        }
    }
}
