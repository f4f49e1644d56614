import X509

extension TrustEvaluation {
    /// Reads the requirement's keys and certificates; a key that does not
    /// parse refuses the requirement even if another would verify (as
    /// containers/image does, so a broken fallback key is found before it
    /// is needed).
    func trustRoot(_ requirement: SigstoreSignedRequirement) -> Result<SigstoreTrustRoot, TrustRefusal> {
        var rekorKeys: [SigstorePublicKey]?
        if let source = requirement.rekorPublicKeys {
            switch publicKeys(source) {
            case .failure(let reason): return .failure(reason)
            case .success(let keys):
                if let (name, _) = keys.first(where: { !$0.1.isECDSA }) {
                    return .failure(.keyUnusable(key: name, reason: "a Rekor public key must be an ECDSA key"))
                }
                rekorKeys = keys.map(\.1)
            }
        }
        switch requirement.trust {
        case .publicKeys(let source):
            return publicKeys(source).map { SigstoreTrustRoot(keys: .publicKeys($0.map(\.1)), rekorKeys: rekorKeys) }
        case .fulcio(let fulcio):
            return certificates(fulcio.certificateAuthority).map {
                SigstoreTrustRoot(keys: .fulcio(roots: $0, issuer: fulcio.oidcIssuer, email: fulcio.subjectEmail), rekorKeys: rekorKeys)
            }
        case .pki(let pki):
            let roots: [Certificate]
            switch certificates(pki.roots) {
            case .success(let found): roots = found
            case .failure(let reason): return .failure(reason)
            }
            var intermediates: [Certificate] = []
            if let source = pki.intermediates {
                switch certificates(source) {
                case .success(let found): intermediates = found
                case .failure(let reason): return .failure(reason)
                }
            }
            return .success(
                SigstoreTrustRoot(
                    keys: .pki(roots: roots, intermediates: intermediates, email: pki.subjectEmail, hostname: pki.subjectHostname), rekorKeys: nil))
        }
    }

    /// Every PEM public key of the source, each named for messages.
    private func publicKeys(_ source: KeySource) -> Result<[(String, SigstorePublicKey)], TrustRefusal> {
        keyBlobs(source).flatMap { blobs in
            var keys: [(String, SigstorePublicKey)] = []
            for blob in blobs {
                do throws(SignatureFormatError) {
                    keys.append((blob.name, try SigstorePublicKey(pem: blob.bytes)))
                } catch {
                    return .failure(.keyUnusable(key: blob.name, reason: error.reason))
                }
            }
            guard !keys.isEmpty else { return .failure(.keyUnusable(key: "(none)", reason: "no public keys given")) }
            return .success(keys)
        }
    }

    /// The PEM certificates of the source, at least one.
    private func certificates(_ source: KeySource) -> Result<[Certificate], TrustRefusal> {
        keyBlobs(source).flatMap { blobs in
            var result: [Certificate] = []
            for blob in blobs {
                guard let found = SigningCertificate.certificates(in: blob.bytes), !found.isEmpty else {
                    return .failure(.keyUnusable(key: blob.name, reason: "no PEM certificates in it"))
                }
                result += found
            }
            return .success(result)
        }
    }
}
