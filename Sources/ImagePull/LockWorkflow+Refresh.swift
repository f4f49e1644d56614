import ImageLock
import ImageReference
import ImageSpec
import RegistryClient

/// One entry of `lock update` or `check`, against the source that answered
/// for it.
///
/// Under a signature policy, `update` verifies what it pins anew (the
/// index and each platform's manifest; one that fails keeps the old
/// entry), and leaves an unchanged digest alone, with its proof; `check`
/// verifies what the entry pins, every time, so that a signature revoked
/// or removed since fails it.
struct EntryRefresh: Sendable {
    let session: PullSession
    let client: RegistryClient
    /// The image as the source names it.
    let source: ImageReference
    /// The image as the entry names it (the policy's scope and identity).
    let image: ImageReference
    /// `update` (true) or `check`.
    let write: Bool

    /// Nil when nothing moved and the entry holds together, else the entry resolved again.
    func run(_ entry: LockEntry) async throws -> LockEntry? {
        let head = try await client.manifestDigest(source)
        if !write, session.appliesPolicy { try await verifyPinned(entry) }
        if head.digest == entry.pin.digest, entry.problems.isEmpty { return nil }
        var pinned = source
        pinned.digest = head.digest
        let (pin, documents) = try await ImagePin.resolveDocuments(
            pinned, platforms: try entry.request.platformChoice(), name: entry.name, registryURI: entry.pin.registry, client: client)
        let request = pin.tag.map { entry.request.following(tag: $0) } ?? entry.request
        // What `check` reports as moved is verified when `update` pins it.
        let trust = write ? try await session.requireTrusted(documents, of: image, source: source, client: client) : entry.trust
        return LockEntry(request: request, pin: pin, trust: trust)
    }

    /// The manifests the entry pins, fetched by digest and checked against the policy.
    private func verifyPinned(_ entry: LockEntry) async throws {
        var documents: [ManifestDocument] = []
        for digest in entry.pinnedManifests {
            var named = source
            named.digest = digest
            documents.append(try await client.fetchManifest(named))
        }
        _ = try await session.requireTrusted(documents, of: image, source: source, client: client)
    }
}
