import ImageReference

/// An index: an OCI image index or a Docker manifest list.
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String?, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.manifests = manifests
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

    /// The entry for `platform`, matched as docker matches.
    public func entry(for platform: Platform) -> Descriptor? {
        manifests.first { entry in
            guard let candidate = entry.platform?.platform else { return false }
            return platform.matches(candidate)
        }
    }

    /// The one entry `choice` picks: this machine's for `.host`, the
    /// platform's for one platform, and for `.any` (or `.all`) this
    /// machine's when there is one, else the first image entry. Nil when
    /// the index has none.
    public func entry(for choice: PlatformChoice) -> Descriptor? {
        switch choice {
        case .host: entry(for: Platform.host)
        case .platforms(let platforms): platforms.first.flatMap { entry(for: $0) }
        case .any, .all: entry(for: Platform.host) ?? manifests.first { $0.platform.map { $0.os != "unknown" } ?? true }
        }
    }

    /// The entries `choice` picks, in the order asked (an entry matched
    /// twice is listed once): this machine's for `.host`, each platform's,
    /// or for `.all` every image entry in the index's order; `.any` picks one.
    ///
    /// - Parameter image: names the image in the error for a missing platform.
    /// - Throws: `ImageSpecError.noMatchingPlatform` listing the platforms the
    ///   index has, or `.invalidManifest` when `.all` finds no image entry.
    public func entries(for choice: PlatformChoice, image: String) throws(ImageSpecError) -> [Descriptor] {
        switch choice {
        case .all:
            let images = manifests.filter { entry in entry.platform.map { $0.os != "unknown" } ?? false }
            guard !images.isEmpty else { throw .invalidManifest("the index lists no image with a platform") }
            return images
        case .any:
            guard let entry = entry(for: choice) else { throw .noMatchingPlatform(requested: .host, available: platforms, image: image) }
            return [entry]
        case .host, .platforms:
            var chosen: [Descriptor] = []
            for platform in choice.namedPlatforms ?? [] {
                guard let entry = entry(for: platform) else {
                    throw .noMatchingPlatform(requested: platform, available: platforms, image: image)
                }
                if !chosen.contains(entry) { chosen.append(entry) }
            }
            return chosen
        }
    }
}
