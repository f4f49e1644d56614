extension TrustEvaluation {
    /// `signedBy`: one simple-signing signature that the keyring's keys
    /// verify, whose payload names this manifest and an accepted identity.
    func evaluate(_ requirement: SignedByRequirement) async throws -> RequirementVerdict {
        let type = "signedBy"
        guard requirement.keyType == .gpgKeys else {
            return refused(type, .unsupportedRequirement(reason: "keyType \(requirement.keyType.rawValue) is not implemented (nor by containers/image); use GPGKeys"))
        }
        let keyring: [UInt8]
        switch self.keyring(requirement.keys) {
        case .success(let bytes): keyring = bytes
        case .failure(let reason): return refused(type, reason)
        }
        var refusals: [SignatureRefusal] = []
        var others = 0
        for evidence in signatures {
            guard case .simpleSigning(let message) = evidence.content else {
                others += 1
                continue
            }
            switch try await check(message, keyring: keyring, rule: requirement.signedIdentity) {
            case .success(let (fingerprint, claims)):
                let proof = TrustProof(type: type, keyFingerprint: fingerprint, signedIdentity: claims.dockerReference, signature: evidence.location)
                return RequirementVerdict(type: type, proof: proof, refusals: refusals)
            case .failure(let reason):
                refusals.append(SignatureRefusal(signature: evidence.location, reason: reason))
            }
        }
        if refusals.isEmpty { return refused(type, .noSignature(searched: searched, otherSignatures: others)) }
        return RequirementVerdict(type: type, proof: nil, refusals: refusals)
    }

    /// The policy's keys as one binary keyring; refused when there are none.
    private func keyring(_ source: KeySource) -> Result<[UInt8], TrustRefusal> {
        let blobs: [(name: String, bytes: [UInt8])]
        switch keyBlobs(source) {
        case .success(let found): blobs = found
        case .failure(let reason): return .failure(reason)
        }
        var keyring: [UInt8] = []
        for blob in blobs {
            do {
                keyring += try OpenPGPArmor.dearmor(blob.bytes)
            } catch {
                return .failure(.keyUnusable(key: blob.name, reason: error.reason))
            }
        }
        guard !keyring.isEmpty else {
            return .failure(.keyUnusable(key: blobs.map(\.name).joined(separator: ", "), reason: "no public keys in it"))
        }
        return .success(keyring)
    }

    /// One signature: verified, then its payload checked. The fingerprint
    /// is the signing key's primary key.
    private func check(_ message: [UInt8], keyring: [UInt8], rule: SignedIdentityRule) async throws -> Result<(String, SignedClaims), TrustRefusal> {
        let outcome = try await openPGP.verify(message: message, keyring: keyring)
        let content: [UInt8]
        let fingerprint: String
        switch outcome {
        case .good(let signed, _, let primaryKey):
            content = signed
            fingerprint = primaryKey
        case .badSignature(let keyID): return .failure(.badSignature(reason: "bad OpenPGP signature by key \(keyID)"))
        case .unknownKey(let keyID, let fingerprint): return .failure(.unknownKey(keyID: keyID, fingerprint: fingerprint))
        case .expiredSignature(let key): return .failure(.expiredSignature(keyFingerprint: key))
        case .expiredKey(let key): return .failure(.expiredKey(keyFingerprint: key))
        case .revokedKey(let key, let signingKey): return .failure(.revokedKey(keyFingerprint: key, signingKey: signingKey))
        case .notSigned(let reason): return .failure(.notSigned(reason: reason))
        case .multipleSignatures(let count): return .failure(.malformedSignature(reason: "\(count) signatures in one message; simple signing has one"))
        case .failed(let reason): return .failure(.badSignature(reason: reason))
        }
        switch SignedClaims.parse(content, kind: .simpleSigning) {
        case .failure(let error): return .failure(.invalidPayload(reason: error.reason))
        case .success(let claims):
            if let problem = claimsProblem(claims, rule: rule) { return .failure(problem) }
            return .success((fingerprint, claims))
        }
    }
}
