#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import ImageTrust
import RegistryClient

/// What satisfied the policy, per manifest: the manifest's digest → one
/// proof per requirement (what a lock entry records).
public typealias ManifestProofs = [String: [TrustProof]]

extension PullSession {
    /// Whether the run applies a policy file (one was found, and no `--insecure-policy`).
    public var appliesPolicy: Bool { options.trust.policyFile != nil }

    /// The policy's verdict on each of `documents` — manifests of `image`,
    /// already verified against their digests — in their order; nil when no
    /// policy is in force.
    ///
    /// - Parameters:
    ///   - image: the image as the user named it: the policy's scope, the
    ///     identity its signatures must claim, the lookaside's path. A
    ///     digest beside its tag is dropped (the tag is what was signed).
    ///   - source: the image as the source that served it names it (a mirror's name).
    ///   - client: that source's client: signature manifests and referrers are read there.
    public func verdicts(
        on documents: [ManifestDocument], of image: ImageReference, source: ImageReference, client: RegistryClient
    ) async throws -> [TrustVerdict]? {
        guard let policy = options.trust.policyFile else { return nil }
        var named = image
        if named.tag != nil { named.digest = nil }
        let applicable = policy.requirements(for: named)
        let readsSignatures = applicable.needsSimpleSigning || applicable.needsSigstore
        let fetch = SignatureFetch(
            session: self, client: client, source: source, image: named,
            sources: options.trust.storage.sources(for: named, builtinLookaside: options.trust.builtinLookaside))
        var verdicts: [TrustVerdict] = []
        for document in documents {
            var signatures: [SignatureEvidence] = []
            var searched: [String] = []
            if readsSignatures {
                (signatures, searched) = try await fetch.signatures(for: document.digest, sigstore: applicable.needsSigstore)
            }
            var evaluation = TrustEvaluation(
                policy: applicable, image: named, manifest: Array(document.bytes), signatures: signatures, searched: searched,
                keyFiles: options.trust.keyFiles, openPGP: options.trust.openPGP, now: options.trust.now)
            evaluation.unreadableKeyFiles = options.trust.unreadableKeyFiles
            verdicts.append(try await evaluation.verdict())
        }
        return verdicts
    }

    /// The proofs of `documents` under the policy, by digest; nil when no
    /// policy is in force, or when it asked for no signature at all
    /// (`insecureAcceptAnything`, the system default of many distributions:
    /// nothing was proven, and a lock entry records nothing). The first
    /// manifest the policy refuses is thrown as ``ImageNotTrusted``, saying
    /// which requirement failed and why.
    public func requireTrusted(
        _ documents: [ManifestDocument], of image: ImageReference, source: ImageReference, client: RegistryClient
    ) async throws -> ManifestProofs? {
        guard let verdicts = try await verdicts(on: documents, of: image, source: source, client: client) else { return nil }
        var proofs: ManifestProofs = [:]
        for verdict in verdicts {
            if let refusal = verdict.refusalError { throw refusal }
            proofs[verdict.manifestDigest.description] = verdict.proofs
        }
        let provenNothing = proofs.values.allSatisfy { $0.allSatisfy { $0.type == PolicyRequirement.insecureAcceptAnything.typeName } }
        return provenNothing ? nil : proofs
    }
}

/// One manifest and the policy's verdict on it: what `hocker verify` prints.
public struct ManifestVerdict: Sendable, Equatable, Codable {
    /// The index entry's platform; nil for the document the reference names.
    public var platform: String?
    public var mediaType: String
    public var verdict: TrustVerdict

    public init(platform: String?, mediaType: String, verdict: TrustVerdict) {
        self.platform = platform
        self.mediaType = mediaType
        self.verdict = verdict
    }
}

/// `hocker verify` with no policy to verify against.
public struct NoTrustPolicy: UserFacingError, Equatable {
    /// Where a policy file was looked for; empty under `--insecure-policy`.
    public var searched: [String]

    public var message: String {
        searched.isEmpty
            ? "--insecure-policy leaves nothing to verify against"
            : "no signature policy to verify against: none of \(searched.joined(separator: ", ")) exists"
    }

    public var hints: [String] {
        ["name one with --policy FILE (containers-policy.json(5)): e.g. {\"default\": [{\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": \"/path/key.gpg\"}]}"]
    }

    public var exitStatus: ExitStatus { .usage }
}

extension PullSession {
    /// The policy's verdict on what `target` names and, for an index, on
    /// each image manifest `platforms` picks from it: who signed which
    /// manifest, with which key or identity, or why each was refused.
    public func verify(_ target: ImageTarget, platforms: PlatformChoice) async throws -> [ManifestVerdict] {
        switch options.trust.policy {
        case .absent(let searched): throw NoTrustPolicy(searched: searched)
        case .insecure: throw NoTrustPolicy(searched: [])
        case .file: break
        }
        return try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            let top = try await client.fetchManifest(image)
            var documents: [(document: ManifestDocument, platform: String?)] = [(top, nil)]
            if let index = top.index {
                for entry in try index.select(platforms, image: "\(target.endpoint.name)/\(target.reference.repositoryReference)").entries {
                    var child = image
                    child.digest = entry.digest
                    documents.append((try await client.fetchManifest(child), entry.platform?.platform.description))
                }
            }
            let verdicts = try await verdicts(on: documents.map(\.document), of: target.reference, source: image, client: client) ?? []
            return zip(documents, verdicts).map { ManifestVerdict(platform: $0.platform, mediaType: $0.document.mediaType, verdict: $1) }
        }
    }
}
