import ImageReference

/// An index: an OCI image index or a Docker manifest list.
///
/// As the OCI spec allows it, an index may list nothing, may list entries
/// without a `platform` (Bazel's images, an index of artifacts), and may
/// itself be an artifact (`artifactType`, `subject`).
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    /// The artifact's type (OCI 1.1), for an index of artifacts; else nil.
    public var artifactType: String?
    public var manifests: [Descriptor]
    /// The manifest this index is about (OCI 1.1).
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        schemaVersion: Int = 2, mediaType: String?, artifactType: String? = nil, manifests: [Descriptor], subject: Descriptor? = nil,
        annotations: [String: String]? = nil
    ) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }

    /// The platforms of the image manifests the index lists, in its order.
    /// Attestation entries (`unknown/unknown`) are left out.
    public var platforms: [Platform] {
        manifests.compactMap { entry in
            guard let platform = entry.platform?.platform, platform.os != "unknown" else { return nil }
            return platform
        }
    }

    /// The entries that name no platform.
    public var unlabelled: [Descriptor] { manifests.filter { $0.platform == nil } }

    /// The entries an image may be picked from: all but attestations
    /// (`unknown/unknown`), whose images are in the same index.
    public var imageEntries: [Descriptor] { manifests.filter { $0.platform.map { $0.os != "unknown" } ?? true } }

    /// The entry for `platform`, matched as docker matches.
    public func entry(for platform: Platform) -> Descriptor? {
        manifests.first { entry in
            guard let candidate = entry.platform?.platform else { return false }
            return platform.matches(candidate)
        }
    }

    /// The entries `choice` picks, and whether the one picked names no
    /// platform (see ``IndexSelection``).
    ///
    /// One image (`.host`, one platform, `.any`): the entry for that
    /// platform (for `.any` this machine's, else the first image entry);
    /// when the index labels none of its images with a platform and lists
    /// exactly one entry, that one, whatever was asked (its config says what
    /// it is for). Several platforms: each one's entry, all required, in the
    /// order asked (an entry matched twice listed once). `.all`: every entry
    /// but attestations, in the index's order — none for an empty index.
    ///
    /// - Parameter image: names the image in the errors.
    /// - Throws: ``ImageSpecError/emptyIndex(image:)`` when one image is
    ///   asked of an index that lists none; ``ImageSpecError/unlabelledEntries(image:entries:)``
    ///   when it lists several and labels none; else
    ///   ``ImageSpecError/noMatchingPlatform(requested:available:image:)``.
    public func select(_ choice: PlatformChoice, image: String) throws(ImageSpecError) -> IndexSelection {
        if case .all = choice { return IndexSelection(entries: imageEntries, unlabelled: false) }
        let labelled = manifests.filter { $0.platform.map { $0.os != "unknown" } ?? false }
        var chosen: [Descriptor] = []
        for platform in choice.namedPlatforms ?? [] {
            if let entry = entry(for: platform) {
                if !chosen.contains(entry) { chosen.append(entry) }
                continue
            }
            return try fallback(choice, missing: platform, labelled: labelled, image: image)
        }
        if case .any = choice {
            guard let entry = entry(for: Platform.host) ?? labelled.first else {
                return try fallback(choice, missing: .host, labelled: labelled, image: image)
            }
            chosen = [entry]
        }
        return IndexSelection(entries: chosen, unlabelled: false)
    }

    /// What picking one image does when no entry is labelled for it.
    private func fallback(
        _ choice: PlatformChoice, missing platform: Platform, labelled: [Descriptor], image: String
    ) throws(ImageSpecError) -> IndexSelection {
        guard !manifests.isEmpty else { throw .emptyIndex(image: image) }
        let unlabelled = unlabelled
        if labelled.isEmpty, choice.picksOne {
            if unlabelled.count == 1 { return IndexSelection(entries: unlabelled, unlabelled: true) }
            if unlabelled.count > 1 { throw .unlabelledEntries(image: image, entries: unlabelled.map(UnlabelledEntry.init)) }
        }
        throw .noMatchingPlatform(requested: platform, available: platforms, image: image)
    }
}

/// The entries of an index a platform choice picked.
public struct IndexSelection: Sendable, Hashable {
    /// In the order asked (`.all`: the index's).
    public var entries: [Descriptor]
    /// Whether the one entry was taken because it is the index's only one
    /// and names no platform: what it is for is its config's to say.
    public var unlabelled: Bool

    public init(entries: [Descriptor], unlabelled: Bool) {
        self.entries = entries
        self.unlabelled = unlabelled
    }
}

/// An index entry without a platform, as an error lists it: enough to tell
/// it from the others and pick it by digest.
public struct UnlabelledEntry: Sendable, Hashable {
    public var digest: Digest
    /// The entry's `artifactType`, else its media type.
    public var kind: String
    /// Its annotations, `key=value`, sorted.
    public var annotations: [String]

    public init(_ entry: Descriptor) {
        digest = entry.digest
        kind = entry.artifactType ?? entry.mediaType
        annotations = (entry.annotations ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    public var description: String {
        "\(digest) (\(([kind] + annotations).joined(separator: ", ")))"
    }
}
