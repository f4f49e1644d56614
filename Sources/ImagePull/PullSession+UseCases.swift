#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import RegistryClient

// The use cases of a run, one function each. Every one goes to the first
// source of its image that answers (mirrors, then the registry), with the
// session's clients, credentials and deadline.

/// Where a fetched file goes: `--out PATH`, or standard output.
public typealias OutputPath = String?

extension PullSession {
    // MARK: Manifests, configs, blobs

    /// The manifest `target` names, byte for byte as served: the index
    /// itself with `index`, else the image manifest `platform` picks from
    /// it (a single image as it is).
    public func manifest(_ target: ImageTarget, platform: PlatformChoice, index: Bool = false) async throws -> Data {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            if index { return try await client.fetchManifest(image).bytes }
            return try await puller(client).resolve(image, platform: platform, readConfig: false).image.document.bytes
        }
    }

    /// Writes the config of the image `platform` picks to `out`, verified.
    public func config(_ target: ImageTarget, platform: PlatformChoice, to out: OutputPath) async throws {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            try await puller(client).fetchConfig(of: image, platform: platform, to: out)
        }
    }

    /// Writes blob `digest` of `target`'s repository to `out`, verified;
    /// the tag is not resolved.
    public func blob(_ digest: Digest, of target: ImageTarget, to out: OutputPath) async throws {
        var repository = target.reference
        repository.tag = nil
        repository.digest = nil
        try await withSource(repository, endpoint: target.endpoint, probe: .blob(digest)) { client, image in
            try await puller(client).fetchBlob(digest, size: nil, of: image, to: out)
        }
    }

    // MARK: Whole images

    /// Writes the image `target` names to `path` as `format`: one platform
    /// as a docker-archive, or as an OCI layout (one or several, `all`
    /// for the whole index). The archive names the image as `target` does,
    /// whichever source served it. Under a signature policy, what is
    /// copied must satisfy it before any layer is fetched, as with `skopeo
    /// copy`: one platform's manifest, or the index and every manifest of a
    /// layout.
    public func image(_ target: ImageTarget, platforms: PlatformChoice, format: ImageFormat, to path: String, jobs: Int? = nil) async throws {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            var puller = puller(client, jobs: jobs)
            if appliesPolicy {
                puller.admit = { documents in _ = try await self.requireTrusted(documents, of: target.reference, source: image, client: client) }
            }
            if platforms.picksOne {
                try await puller.pull(image, platform: platforms, format: format, to: path, named: target.reference)
            } else {
                try await puller.pullLayout(image, platforms: platforms, format: format, to: path, named: target.reference)
            }
        }
    }

    // MARK: Pins and look-ups

    /// The image manifest `platform` picks for the fetchdocker expression,
    /// and the registry URI a pin of it records: the one the client used (a
    /// bare loopback host as it answered, https or http), or `target`'s when
    /// a mirror served it. An artifact is refused (the expression builds a
    /// docker-archive); a config not read to check the platform is asked
    /// for with one `HEAD`, so the expression never names one the registry lacks.
    public func resolveImage(_ target: ImageTarget, platform: PlatformChoice) async throws -> (image: ResolvedImage, registryURI: String) {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            let resolution = try await puller(client).resolve(image, platform: platform)
            let resolved = resolution.image
            if let artifact = resolved.manifest.artifact {
                throw ImageSpecError.notAnImage(
                    image: "\(client.endpoint.host)/\(image.repositoryReference)", artifactType: artifact, refusedBy: .fetchdockerExpression)
            }
            if resolution.configBytes == nil { try await ImagePin.requireConfig(of: resolved, image: image, client: client) }
            // Under a signature policy, the manifest as `skopeo copy` checks one platform's.
            _ = try await requireTrusted([resolved.document], of: target.reference, source: image, client: client)
            return (resolved, client.endpoint == target.endpoint ? client.effectiveEndpoint.v2URL : target.registryURI)
        }
    }

    /// The pin of `target` for `platforms`, named `name`: manifests only.
    /// Pinned to `target`'s registry and repository, whichever source
    /// answered. Under a signature policy, the index and each manifest
    /// pinned must satisfy it.
    public func pin(_ target: ImageTarget, platforms: PlatformChoice, name: String) async throws -> ImagePin {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            var (pin, documents) = try await ImagePin.resolveDocuments(
                image, platforms: platforms, name: name, registryURI: target.registryURI, client: client, warn: options.warn)
            // The index and every manifest pinned, as a lock entry is checked.
            _ = try await requireTrusted(documents, of: target.reference, source: image, client: client)
            pin.repository = target.reference.repository
            return pin
        }
    }

    /// What `target` names, per platform its manifest and config, and its
    /// referrers counted by artifact type. Named as `target` names it,
    /// whichever source answered.
    public func inspect(_ target: ImageTarget, platforms: PlatformChoice) async throws -> ImageInspection {
        let name = "\(target.endpoint.name)/\(target.reference.repositoryReference)"
        var inspection = try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            var inspection = try await ImageInspection.inspect(image, platforms: platforms, client: client)
            // Asked of the source that answered, which is known to be reachable: one request where it has the API.
            do {
                inspection.referrers = try await client.referrers(of: inspection.digest, in: image).countsByArtifactType
            } catch {
                // What the image is has been said; that its referrers could not be counted is said beside it.
                if error is CancellationError || deadline.hasPassed { throw error }
                options.warn?("cannot count the referrers of \(name): \(error.userFacingMessage)")
            }
            return inspection
        }
        inspection.reference = name
        return inspection
    }

    /// The referrers of what `target` names (one `HEAD` for a tag), or of the
    /// image manifest `platform` picks from it: from the registry itself (a
    /// mirror or pull-through cache holds none of its own).
    public func referrers(_ target: ImageTarget, platform: Platform?, artifactType: String?) async throws -> ReferrerList {
        let client = client(for: target.endpoint)
        var subject = target.reference.digest
        if subject == nil || platform != nil {
            subject = try await ImageDigestLookup.digest(of: target.reference, platform: platform, client: client)
        }
        guard let subject else { throw ImageSpecError.invalidManifest("no digest for \(target.reference)") }
        return try await client.referrers(of: subject, in: target.reference, artifactType: artifactType)
    }

    /// The digest `target` names (one `HEAD`), or, for a platform, that
    /// platform's image manifest digest.
    public func digest(_ target: ImageTarget, platform: Platform?) async throws -> Digest {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifestDigest) { client, image in
            try await ImageDigestLookup.digest(of: image, platform: platform, client: client)
        }
    }

    /// Every tag of `target`'s repository, from the registry itself (a
    /// mirror's tag list is whatever it happens to hold).
    public func tags(_ target: ImageTarget, pageSize: Int? = nil) async throws -> [String] {
        try await client(for: target.endpoint).tags(of: target.reference.repository, pageSize: pageSize)
    }

    // MARK: Lock files

    /// `hocker lock add`: resolves `additions` and writes them into the lock file.
    public func lockAdd(_ additions: [LockWorkflow.Addition], workflow: LockWorkflow) async throws -> LockWorkflow.AddOutcome {
        try await workflow.add(additions, session: self)
    }

    /// `hocker lock update` (`write`) and `check`: one `HEAD` per entry, the
    /// moved ones resolved again; one that would lose a platform fails unless `allowFewerPlatforms`.
    public func lockRefresh(
        _ names: [String], write: Bool, allowFewerPlatforms: Bool = false, workflow: LockWorkflow
    ) async throws -> LockWorkflow.RefreshOutcome {
        try await workflow.refresh(names, write: write, allowFewerPlatforms: allowFewerPlatforms, session: self)
    }
}
