import ImageReference

/// Where a signature was found: a lookaside URL, or a cosign signature
/// layer in the registry (by the signature manifest's tag or as a
/// referrer), named by its digest.
///
/// JSON: `{"kind": "lookaside", "url": …}` or
/// `{"kind": "attachment"|"referrer", "digest": …}`.
public struct SignatureLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// A registries.d lookaside file (`…/signature-N`).
        case lookaside
        /// A layer of the cosign signature manifest under the `sha256-<hex>.sig` tag.
        case attachment
        /// A layer of a cosign signature manifest found as an OCI referrer.
        case referrer
    }

    public var kind: Kind
    /// The lookaside URL.
    public var url: String?
    /// The signature layer's digest.
    public var digest: Digest?

    public static func lookaside(_ url: String) -> SignatureLocation { SignatureLocation(kind: .lookaside, url: url, digest: nil) }
    public static func attachment(_ layer: Digest) -> SignatureLocation { SignatureLocation(kind: .attachment, url: nil, digest: layer) }
    public static func referrer(_ layer: Digest) -> SignatureLocation { SignatureLocation(kind: .referrer, url: nil, digest: layer) }

    public var description: String {
        switch kind {
        case .lookaside: url ?? "lookaside"
        case .attachment: "signature layer \(digest?.description ?? "?") (sigstore tag)"
        case .referrer: "signature layer \(digest?.description ?? "?") (referrer)"
        }
    }
}

/// What satisfied one requirement: the proof a lock entry records.
///
/// JSON keys: `type`, then whichever apply of `keyFingerprint`,
/// `certificateIdentity`, `certificateIssuer`, `signedIdentity`,
/// `signature`.
public struct TrustProof: Sendable, Hashable, Codable {
    /// The requirement's `type` (`signedBy`, `sigstoreSigned`, `insecureAcceptAnything`).
    public var type: String
    /// The OpenPGP primary key's fingerprint, or `SHA256:<hex>` of a cosign public key.
    public var keyFingerprint: String?
    /// The certificate's e-mail address (Fulcio, PKI) or host name (PKI).
    public var certificateIdentity: String?
    /// The OIDC issuer (Fulcio) or the issuing CA's name (PKI).
    public var certificateIssuer: String?
    /// The `docker-reference` the signature claims.
    public var signedIdentity: String?
    /// Which signature it was; nil for `insecureAcceptAnything`.
    public var signature: SignatureLocation?

    public init(
        type: String, keyFingerprint: String? = nil, certificateIdentity: String? = nil, certificateIssuer: String? = nil,
        signedIdentity: String? = nil, signature: SignatureLocation? = nil
    ) {
        self.type = type
        self.keyFingerprint = keyFingerprint
        self.certificateIdentity = certificateIdentity
        self.certificateIssuer = certificateIssuer
        self.signedIdentity = signedIdentity
        self.signature = signature
    }

    /// "signedBy: key 08CD… (signature-1 at URL)" and the like.
    public var summary: String {
        var parts = [type]
        if let keyFingerprint { parts.append("key \(keyFingerprint)") }
        if let certificateIdentity { parts.append("certificate for \(certificateIdentity)") }
        if let certificateIssuer { parts.append("issued by \(certificateIssuer)") }
        if let signedIdentity { parts.append("signed as \(signedIdentity)") }
        if let signature { parts.append("in \(signature)") }
        return parts.joined(separator: ", ")
    }
}

/// Why a requirement, or one signature under it, was refused.
public enum TrustRefusal: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// The scope's requirement is `reject`.
    case rejectedByPolicy
    /// A requirement containers/image does not implement either (`signedBaseLayer`, a `keyType` other than `GPGKeys`).
    case unsupportedRequirement(reason: String)
    /// No signature of the kind required; `searched` says where hocker looked,
    /// `otherSignatures` how many of another kind (or non-signature attachments) it passed over.
    case noSignature(searched: [String], otherSignatures: Int)
    /// A key, certificate or Rekor key the policy names cannot be used (`key` is its file, or `keyData`).
    case keyUnusable(key: String, reason: String)
    /// A signature found that is not in a format hocker reads.
    case malformedSignature(reason: String)
    /// Signed by a key the policy does not trust.
    case unknownKey(keyID: String, fingerprint: String?)
    /// The signature does not verify.
    case badSignature(reason: String)
    /// The OpenPGP signature has expired.
    case expiredSignature(keyFingerprint: String)
    /// The OpenPGP key has expired.
    case expiredKey(keyFingerprint: String)
    /// The OpenPGP key (or its signing subkey) has been revoked.
    case revokedKey(keyFingerprint: String, signingKey: String)
    /// The data is not a signed message.
    case notSigned(reason: String)
    /// The signed payload is not simple-signing JSON.
    case invalidPayload(reason: String)
    /// The signature is for another manifest.
    case digestMismatch(signed: String, manifest: String)
    /// The signature claims a name the policy's `signedIdentity` does not accept for this image.
    case identityMismatch(signed: String, expected: String, rule: String)
    /// The Rekor SET does not verify or does not match the signature.
    case rekorFailure(reason: String)
    /// The signing certificate does not chain to the policy's CA at the time that counts.
    case certificateChainFailure(reason: String)
    /// The certificate was issued to another identity than the policy requires.
    case identityNotAllowed(found: [String], required: String)
    /// The certificate was issued through another OIDC issuer than the policy requires.
    case issuerNotAllowed(found: String, required: String)
    /// The manifest cannot be checked against a signed digest.
    case manifestUnreadable(reason: String)

    /// The case's name (`identityMismatch`), for scripts and tables.
    public var code: String {
        switch self {
        case .rejectedByPolicy: "rejectedByPolicy"
        case .unsupportedRequirement: "unsupportedRequirement"
        case .noSignature: "noSignature"
        case .keyUnusable: "keyUnusable"
        case .malformedSignature: "malformedSignature"
        case .unknownKey: "unknownKey"
        case .badSignature: "badSignature"
        case .expiredSignature: "expiredSignature"
        case .expiredKey: "expiredKey"
        case .revokedKey: "revokedKey"
        case .notSigned: "notSigned"
        case .invalidPayload: "invalidPayload"
        case .digestMismatch: "digestMismatch"
        case .identityMismatch: "identityMismatch"
        case .rekorFailure: "rekorFailure"
        case .certificateChainFailure: "certificateChainFailure"
        case .identityNotAllowed: "identityNotAllowed"
        case .issuerNotAllowed: "issuerNotAllowed"
        case .manifestUnreadable: "manifestUnreadable"
        }
    }

    public var description: String {
        switch self {
        case .rejectedByPolicy: "the policy rejects every image here (type reject)"
        case .unsupportedRequirement(let reason): reason
        case .noSignature(let searched, let others):
            "no signature found (looked at: \(searched.isEmpty ? "nothing" : searched.joined(separator: ", ")))"
                + (others > 0 ? "; \(others) signature(s) of another kind passed over" : "")
        case .keyUnusable(let key, let reason): "the policy's key \(key) cannot be used: \(reason)"
        case .malformedSignature(let reason): "not a usable signature: \(reason)"
        case .unknownKey(let keyID, let fingerprint): "signed by a key the policy does not trust: \(fingerprint ?? keyID)"
        case .badSignature(let reason): "the signature does not verify: \(reason)"
        case .expiredSignature(let key): "the signature by key \(key) has expired"
        case .expiredKey(let key): "the key \(key) has expired"
        case .revokedKey(let key, let signingKey):
            signingKey == key || signingKey.isEmpty ? "the key \(key) has been revoked" : "the subkey \(signingKey) of key \(key) has been revoked"
        case .notSigned(let reason): "not a signature: \(reason)"
        case .invalidPayload(let reason): "the signed payload is invalid: \(reason)"
        case .digestMismatch(let signed, let manifest): "the signature is for manifest \(signed), not \(manifest)"
        case .identityMismatch(let signed, let expected, let rule):
            "the signature is for \(signed), which \(rule) does not accept for \(expected)"
        case .rekorFailure(let reason): "the Rekor SET does not verify: \(reason)"
        case .certificateChainFailure(let reason): "the signing certificate does not chain to the policy's CA: \(reason)"
        case .identityNotAllowed(let found, let required):
            "the certificate is for \(found.isEmpty ? "no e-mail address" : found.joined(separator: ", ")), not \(required)"
        case .issuerNotAllowed(let found, let required): "the certificate's OIDC issuer is \(found), not \(required)"
        case .manifestUnreadable(let reason): "the manifest cannot be checked: \(reason)"
        }
    }
}

/// One refused signature, or a refusal of the whole requirement (no `signature`).
///
/// JSON: `{"signature"?, "code": "noSignature", "message": "no signature
/// found (…)", "reason": {"noSignature": {…}}}`: `code` and `message` for
/// scripts and people, `reason` with the details.
public struct SignatureRefusal: Sendable, Equatable, Codable {
    public var signature: SignatureLocation?
    public var reason: TrustRefusal

    public init(signature: SignatureLocation?, reason: TrustRefusal) {
        self.signature = signature
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case signature, reason, code, message
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        signature = try container.decodeIfPresent(SignatureLocation.self, forKey: .signature)
        reason = try container.decode(TrustRefusal.self, forKey: .reason)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(signature, forKey: .signature)
        try container.encode(reason.code, forKey: .code)
        try container.encode(reason.description, forKey: .message)
        try container.encode(reason, forKey: .reason)
    }
}

/// The outcome of one requirement: its proof, or why each signature was refused.
public struct RequirementVerdict: Sendable, Equatable, Codable {
    /// The requirement's `type`.
    public var type: String
    /// Set when the requirement holds.
    public var proof: TrustProof?
    /// Why it does not hold (one entry per signature tried, or one for the requirement).
    public var refusals: [SignatureRefusal]

    public var isAccepted: Bool { proof != nil }

    public init(type: String, proof: TrustProof?, refusals: [SignatureRefusal]) {
        self.type = type
        self.proof = proof
        self.refusals = refusals
    }
}

/// Whether an image satisfies the policy, and who signed what.
///
/// Stable JSON: `{"image", "manifestDigest", "policyFile", "policySection",
/// "accepted", "requirements": [{"type", "proof"?, "refusals"}]}`; the
/// proofs are what a lock entry records.
public struct TrustVerdict: Sendable, Equatable, Codable {
    /// The image as it was named.
    public var image: String
    /// The manifest's SHA-256 digest.
    public var manifestDigest: Digest
    public var policyFile: String
    /// The policy section that applied (`default`, `transports.docker["…"]`).
    public var policySection: String
    /// Whether every requirement holds.
    public var accepted: Bool
    public var requirements: [RequirementVerdict]

    public init(image: String, manifestDigest: Digest, policyFile: String, policySection: String, requirements: [RequirementVerdict]) {
        self.image = image
        self.manifestDigest = manifestDigest
        self.policyFile = policyFile
        self.policySection = policySection
        self.requirements = requirements
        self.accepted = requirements.allSatisfy(\.isAccepted)
    }

    /// What satisfied each requirement, in order; empty unless accepted.
    public var proofs: [TrustProof] { accepted ? requirements.compactMap(\.proof) : [] }

    /// The verdict as an error to print and exit with, nil when accepted.
    public var refusalError: ImageNotTrusted? { accepted ? nil : ImageNotTrusted(verdict: self) }
}

/// An image that does not satisfy the policy: which requirement failed and
/// why, signature by signature.
public struct ImageNotTrusted: UserFacingError, Equatable {
    public var verdict: TrustVerdict

    public var message: String {
        let failed = verdict.requirements.filter { !$0.isAccepted }
        let reasons = failed.map { requirement in
            "\(requirement.type): " + requirement.refusals.map { refusal in
                (refusal.signature.map { "\($0): " } ?? "") + refusal.reason.description
            }.joined(separator: "; ")
        }
        return "\(verdict.image)@\(verdict.manifestDigest) is refused by \(verdict.policyFile) (\(verdict.policySection)): "
            + reasons.joined(separator: "; ")
    }

    public var hints: [String] {
        let codes = Set(verdict.requirements.filter { !$0.isAccepted }.flatMap(\.refusals).map(\.reason.code))
        var hints: [String] = []
        if codes.contains("noSignature") {
            hints.append("sign it where registries.d says signatures are (skopeo copy --sign-by, cosign sign), or point registries.d's lookaside or use-sigstore-attachments at where they are")
        }
        if codes.contains("unknownKey") || codes.contains("badSignature") {
            hints.append("the policy trusts only the keys it names (keyPath, keyPaths, keyData): add the signer's public key, or sign with a key it lists")
        }
        if codes.contains("identityMismatch") {
            hints.append("the signature names another image: sign this reference, or widen signedIdentity (matchRepository, remapIdentity) in the policy")
        }
        if codes.contains("revokedKey") || codes.contains("expiredKey") || codes.contains("expiredSignature") {
            hints.append("the signing key or signature is no longer valid: sign again with a current key")
        }
        if codes.contains("rejectedByPolicy") {
            hints.append("the policy rejects everything in \(verdict.policySection); add a transports.docker scope for this image to accept it")
        }
        hints.append("\(verdict.policyFile) says which signatures an image needs (containers-policy.json(5)); registries.d says where they are looked for (containers-registries.d(5))")
        return hints
    }
}
