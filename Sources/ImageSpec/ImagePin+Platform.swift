import ImageReference

extension ImagePin {
    /// The one image of the pin that `choice` picks, as `nix/`'s
    /// `fetchImage` picks it: the entry for the platform asked (this
    /// machine's for `.host`); a pin whose only image names no platform
    /// needs no choice; `.any` takes this machine's entry when there is one,
    /// else the first. `.all` picks as `.host` does: one image is loaded or
    /// built at a time.
    ///
    /// - Throws: ``ImageSpecError/noMatchingPlatform(requested:available:image:)``,
    ///   or ``ImageSpecError/platformMismatch(image:requested:actual:)`` for
    ///   a single image built for another platform.
    public func image(for choice: PlatformChoice) throws(ImageSpecError) -> PlatformImage {
        let name = "\(registry) \(repository)\(tag.map { ":" + $0 } ?? "")"
        guard let first = images.first else { throw .invalidManifest("the pin of \(name) lists no images") }
        let known = images.map { image in (image, image.platform.flatMap { try? Platform(parsing: $0) }) }
        let wanted: Platform
        switch choice {
        case .any:
            return known.first { $0.1.map(Platform.host.matches) ?? false }?.0 ?? first
        case .host, .all: wanted = .host
        case .platforms(let platforms): wanted = platforms[0]
        }
        if images.count == 1, known[0].1 == nil { return first }
        if let match = known.first(where: { $0.1.map(wanted.matches) ?? false }) { return match.0 }
        if images.count == 1, indexDigest == nil, let actual = known[0].1 {
            throw .platformMismatch(image: name, requested: wanted, actual: actual)
        }
        throw .noMatchingPlatform(requested: wanted, available: known.compactMap(\.1), image: name)
    }
}
