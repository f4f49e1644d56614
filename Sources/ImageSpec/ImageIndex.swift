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

    /// The entries `selection` picks, in the order asked (an entry matched
    /// twice is listed once); for `.all`, every image entry in the index's order.
    ///
    /// - Parameter image: names the image in the error for a missing platform.
    /// - Throws: `ImageSpecError.noMatchingPlatform` listing the platforms the
    ///   index has, or `.invalidManifest` when `.all` finds no image entry.
    public func entries(for selection: PlatformSelection, image: String) throws(ImageSpecError) -> [Descriptor] {
        switch selection {
        case .all:
            let images = manifests.filter { entry in entry.platform.map { $0.os != "unknown" } ?? false }
            guard !images.isEmpty else { throw .invalidManifest("the index lists no image with a platform") }
            return images
        case .platforms(let wanted):
            var chosen: [Descriptor] = []
            for platform in wanted {
                guard let entry = entry(for: platform) else {
                    throw .noMatchingPlatform(requested: platform, available: platforms, image: image)
                }
                if !chosen.contains(entry) { chosen.append(entry) }
            }
            return chosen
        }
    }
}

/// Which images of an index to take.
public enum PlatformSelection: Hashable, Sendable {
    /// These platforms, in this order.
    case platforms([Platform])
    /// Every image entry (attestations, `unknown/unknown`, left out).
    case all
}
