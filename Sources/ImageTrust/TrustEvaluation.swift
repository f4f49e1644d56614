#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import struct Crypto.SHA256
import struct Crypto.SHA384
import struct Crypto.SHA512
import ImageReference

/// A signature the caller fetched, with where it was found.
public struct SignatureEvidence: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case simpleSigning([UInt8])
        case sigstore(SigstoreSignature)
        /// A lookaside file in no format hocker reads. As in skopeo, its
        /// presence refuses every requirement that reads signatures.
        case unreadable(SignatureFormatError)
    }

    public var location: SignatureLocation
    public var content: Content

    public init(location: SignatureLocation, content: Content) {
        self.location = location
        self.content = content
    }

    /// A lookaside file's bytes, recognized as ``SignatureBlob`` does.
    public init(location: SignatureLocation, lookasideBlob: [UInt8]) {
        self.location = location
        do {
            switch try SignatureBlob(parsing: lookasideBlob) {
            case .simpleSigning(let message): content = .simpleSigning(message)
            case .sigstore(let signature): content = .sigstore(signature)
            }
        } catch {
            content = .unreadable(error)
        }
    }
}

/// Checks one image against the requirements that apply to it: the last
/// step, after the caller has read the key files the policy names and
/// fetched the signatures from where registries.d says they are.
///
/// Every requirement must hold; a requirement that reads signatures holds
/// when one signature satisfies it (the first, in the order given).
public struct TrustEvaluation: Sendable {
    public var policy: ApplicablePolicy
    /// The image as it was asked for (its tag, or its digest).
    public var image: ImageReference
    /// The manifest's bytes, exactly as served.
    public var manifest: [UInt8]
    public var signatures: [SignatureEvidence]
    /// Where the caller looked for signatures, for the refusal when it found none.
    public var searched: [String]
    /// The contents of ``ApplicablePolicy/filesToRead``, by path.
    public var keyFiles: [String: [UInt8]]
    /// Why files of ``ApplicablePolicy/filesToRead`` that are not in
    /// ``keyFiles`` could not be read, by path.
    public var unreadableKeyFiles: [String: String] = [:]
    public var openPGP: any OpenPGPVerifier
    /// The time PKI certificates must be valid at (Fulcio certificates are
    /// checked at their Rekor entry's time instead).
    public var now: Date

    public init(
        policy: ApplicablePolicy, image: ImageReference, manifest: [UInt8], signatures: [SignatureEvidence], searched: [String],
        keyFiles: [String: [UInt8]], openPGP: any OpenPGPVerifier, now: Date
    ) {
        self.policy = policy
        self.image = image
        self.manifest = manifest
        self.signatures = signatures
        self.searched = searched
        self.keyFiles = keyFiles
        self.openPGP = openPGP
        self.now = now
    }

    /// The manifest's SHA-256 digest.
    public var manifestDigest: Digest { Digest.sha256(bytes: SHA256.hash(data: manifest)) }

    /// Evaluates every requirement.
    ///
    /// - Throws: only what the OpenPGP verifier throws when it cannot run.
    public func verdict() async throws -> TrustVerdict {
        var results: [RequirementVerdict] = []
        for requirement in policy.requirements {
            results.append(try await evaluate(requirement))
        }
        return TrustVerdict(
            image: image.description, manifestDigest: manifestDigest, policyFile: policy.file, policySection: policy.section.description,
            requirements: results)
    }

    func evaluate(_ requirement: PolicyRequirement) async throws -> RequirementVerdict {
        let type = requirement.typeName
        switch requirement {
        case .insecureAcceptAnything:
            return RequirementVerdict(type: type, proof: TrustProof(type: type), refusals: [])
        case .reject:
            return refused(type, .rejectedByPolicy)
        case .signedBaseLayer:
            return refused(type, .unsupportedRequirement(reason: "signedBaseLayer is not implemented (nor by containers/image, which refuses it too)"))
        case .signedBy(let signedBy):
            if let unreadable = unreadableSignature { return unreadable(type) }
            return try await evaluate(signedBy)
        case .sigstoreSigned(let sigstore):
            if let unreadable = unreadableSignature { return unreadable(type) }
            return await evaluate(sigstore)
        }
    }

    func refused(_ type: String, _ reason: TrustRefusal) -> RequirementVerdict {
        RequirementVerdict(type: type, proof: nil, refusals: [SignatureRefusal(signature: nil, reason: reason)])
    }

    /// A refusal for any requirement when a signature found is unreadable (skopeo fails to read the image's signatures then).
    private var unreadableSignature: ((String) -> RequirementVerdict)? {
        for evidence in signatures {
            if case .unreadable(let error) = evidence.content {
                return { type in
                    RequirementVerdict(
                        type: type, proof: nil,
                        refusals: [SignatureRefusal(signature: evidence.location, reason: .malformedSignature(reason: error.description))])
                }
            }
        }
        return nil
    }

    /// The contents of a key source: inline data, or the files the caller read.
    func keyBlobs(_ source: KeySource) -> Result<[(name: String, bytes: [UInt8])], TrustRefusal> {
        switch source {
        case .data(let bytes): return .success([("keyData", bytes)])
        case .datas(let list): return .success(list.enumerated().map { ("keyDatas[\($0.offset)]", $0.element) })
        case .path, .paths:
            var blobs: [(name: String, bytes: [UInt8])] = []
            for path in source.paths {
                guard let bytes = keyFiles[path] else {
                    return .failure(.keyUnusable(key: path, reason: unreadableKeyFiles[path] ?? "the file was not read"))
                }
                blobs.append((path, bytes))
            }
            return .success(blobs)
        }
    }

    /// Checks the claims of a verified payload against the manifest and the
    /// identity rule; nil when they hold.
    func claimsProblem(_ claims: SignedClaims, rule: SignedIdentityRule) -> TrustRefusal? {
        if let problem = digestProblem(signed: claims.manifestDigest) { return problem }
        guard rule.matches(image: image, signedReference: claims.dockerReference) else {
            return .identityMismatch(signed: claims.dockerReference, expected: image.description, rule: rule.typeName)
        }
        return nil
    }

    /// Whether the manifest's digest, in the signed digest's algorithm, is the signed one.
    func digestProblem(signed: String) -> TrustRefusal? {
        if let manifest = try? StrictJSON.parse(manifest), manifest.objectValue?["schemaVersion"] == .number("1") {
            return .manifestUnreadable(reason: "a Docker schema 1 manifest, which hocker does not read")
        }
        let algorithm = signed.prefix { $0 != ":" }
        let hex: String
        switch algorithm {
        case "sha256": hex = Self.hex(SHA256.hash(data: manifest))
        case "sha384": hex = Self.hex(SHA384.hash(data: manifest))
        case "sha512": hex = Self.hex(SHA512.hash(data: manifest))
        default: return .invalidPayload(reason: "unsupported digest algorithm in \(signed)")
        }
        let computed = "\(algorithm):\(hex)"
        return computed == signed ? nil : .digestMismatch(signed: signed, manifest: computed)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}
