import ImageReference

/// A containers-policy.json(5) document: which signatures an image must
/// carry before it is used, by transport and scope, as skopeo and podman
/// read it.
///
/// Parse one with ``init(parsing:file:)``; ask which requirements apply to
/// an image with ``requirements(for:)``. Only the `docker` transport is
/// consulted (hocker talks to registries); the other transports' sections
/// are parsed and checked all the same, so a file that skopeo refuses is
/// refused here too.
public struct TrustPolicy: Sendable, Equatable {
    /// The file the policy was read from, for messages.
    public var file: String
    /// `default`: what applies when no transport scope matches.
    public var defaultRequirements: [PolicyRequirement]
    /// `transports`: transport name → scope → requirements. The scope `""`
    /// is the transport's own default.
    public var transports: [String: [String: [PolicyRequirement]]]

    public init(file: String, defaultRequirements: [PolicyRequirement], transports: [String: [String: [PolicyRequirement]]] = [:]) {
        self.file = file
        self.defaultRequirements = defaultRequirements
        self.transports = transports
    }

    /// The name of the transport hocker evaluates.
    public static let dockerTransport = "docker"
}

/// One requirement of a scope; all requirements of the scope must hold.
public enum PolicyRequirement: Sendable, Equatable {
    /// `insecureAcceptAnything`: no signature needed.
    case insecureAcceptAnything
    /// `reject`: never accepted.
    case reject
    /// `signedBy`: a simple-signing (OpenPGP) signature by one of the keys.
    case signedBy(SignedByRequirement)
    /// `sigstoreSigned`: a cosign signature by a key, a Fulcio certificate or a PKI certificate.
    case sigstoreSigned(SigstoreSignedRequirement)
    /// `signedBaseLayer`: parsed for compatibility; containers/image does
    /// not implement it and refuses every image under it, and so does hocker.
    case signedBaseLayer(baseLayerIdentity: SignedIdentityRule)

    /// The `type` as the policy file spells it.
    public var typeName: String {
        switch self {
        case .insecureAcceptAnything: "insecureAcceptAnything"
        case .reject: "reject"
        case .signedBy: "signedBy"
        case .sigstoreSigned: "sigstoreSigned"
        case .signedBaseLayer: "signedBaseLayer"
        }
    }

    /// The files (keys, CA certificates, Rekor keys) the caller reads and
    /// hands to the evaluation, in the order the policy names them.
    public var filesToRead: [String] {
        switch self {
        case .insecureAcceptAnything, .reject, .signedBaseLayer:
            return []
        case .signedBy(let requirement):
            return requirement.keys.paths
        case .sigstoreSigned(let requirement):
            var paths: [String] = []
            switch requirement.trust {
            case .publicKeys(let keys): paths += keys.paths
            case .fulcio(let fulcio): paths += fulcio.certificateAuthority.paths
            case .pki(let pki): paths += pki.roots.paths + (pki.intermediates?.paths ?? [])
            }
            paths += requirement.rekorPublicKeys?.paths ?? []
            return paths
        }
    }
}

/// Where a requirement's keys or certificates come from: files the caller
/// reads (`…Path`, `…Paths`), or bytes written into the policy (`…Data`,
/// `…Datas`, base64 there, decoded here).
public enum KeySource: Sendable, Hashable {
    case path(String)
    case paths([String])
    case data([UInt8])
    case datas([[UInt8]])

    /// The files named, in order; none for inline data.
    public var paths: [String] {
        switch self {
        case .path(let path): [path]
        case .paths(let paths): paths
        case .data, .datas: []
        }
    }
}

/// `keyType` of a `signedBy` requirement. Only ``gpgKeys`` is implemented,
/// as in containers/image; the others parse and refuse every image.
public enum GPGKeyType: String, Sendable, CaseIterable {
    case gpgKeys = "GPGKeys"
    case signedByGPGKeys
    case x509Certificates = "X509Certificates"
    case signedByX509CAs
}

/// A `signedBy` requirement.
public struct SignedByRequirement: Sendable, Equatable {
    public var keyType: GPGKeyType
    /// `keyPath`, `keyPaths` or `keyData`: OpenPGP public keys, armored or binary.
    public var keys: KeySource
    /// `signedIdentity`, `matchRepoDigestOrExact` when absent.
    public var signedIdentity: SignedIdentityRule

    public init(keyType: GPGKeyType = .gpgKeys, keys: KeySource, signedIdentity: SignedIdentityRule = .matchRepoDigestOrExact) {
        self.keyType = keyType
        self.keys = keys
        self.signedIdentity = signedIdentity
    }
}

/// A `sigstoreSigned` requirement.
public struct SigstoreSignedRequirement: Sendable, Equatable {
    /// What the signature's key must chain to.
    public enum Trust: Sendable, Equatable {
        /// `keyPath`, `keyPaths`, `keyData` or `keyDatas`: PEM public keys.
        case publicKeys(KeySource)
        /// `fulcio`: a Fulcio certificate for an OIDC identity.
        case fulcio(FulcioTrust)
        /// `pki`: a certificate from a private CA.
        case pki(PKITrust)
    }

    public var trust: Trust
    /// `rekorPublicKeyPath(s)` / `rekorPublicKeyData(s)`: when set, the
    /// signature must carry a Rekor SET signed by one of these ECDSA keys.
    public var rekorPublicKeys: KeySource?
    public var signedIdentity: SignedIdentityRule

    public init(trust: Trust, rekorPublicKeys: KeySource? = nil, signedIdentity: SignedIdentityRule = .matchRepoDigestOrExact) {
        self.trust = trust
        self.rekorPublicKeys = rekorPublicKeys
        self.signedIdentity = signedIdentity
    }
}

/// The `fulcio` part of `sigstoreSigned`.
public struct FulcioTrust: Sendable, Equatable {
    /// `caPath` or `caData`: PEM certificates of the Fulcio CA.
    public var certificateAuthority: KeySource
    /// `oidcIssuer`: the issuer the certificate must record.
    public var oidcIssuer: String
    /// `subjectEmail`: the e-mail address the certificate must name.
    public var subjectEmail: String

    public init(certificateAuthority: KeySource, oidcIssuer: String, subjectEmail: String) {
        self.certificateAuthority = certificateAuthority
        self.oidcIssuer = oidcIssuer
        self.subjectEmail = subjectEmail
    }
}

/// The `pki` part of `sigstoreSigned`.
public struct PKITrust: Sendable, Equatable {
    /// `caRootsPath` or `caRootsData`.
    public var roots: KeySource
    /// `caIntermediatesPath` or `caIntermediatesData`.
    public var intermediates: KeySource?
    public var subjectEmail: String?
    public var subjectHostname: String?

    public init(roots: KeySource, intermediates: KeySource? = nil, subjectEmail: String? = nil, subjectHostname: String? = nil) {
        self.roots = roots
        self.intermediates = intermediates
        self.subjectEmail = subjectEmail
        self.subjectHostname = subjectHostname
    }
}
