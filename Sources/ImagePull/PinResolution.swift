import Foundation
import ImageReference
import ImageSpec
import RegistryClient

extension ImagePin {
    /// Resolves `image` to a pin: the index it names, if any, and an image
    /// manifest for each platform `selection` picks — manifests only, no
    /// layer is downloaded. For a single image manifest the config is read
    /// (in memory) to record the platform it says it is for.
    ///
    /// An explicit selection that a single image's config contradicts is
    /// refused (it is not an index to pick from); the default one gets a
    /// warning through `warn`.
    ///
    /// - Parameters:
    ///   - explicit: whether the user named the platforms (else `selection` is the host's).
    ///   - name: the pin's short name.
    ///   - registryURI: the registry as the pin records it (`https://host/v2/`);
    ///     the client's own endpoint is recorded with the scheme it answered
    ///     over (a bare loopback host may have turned out to speak plain http).
    public static func resolve(
        _ image: ImageReference, selection: PlatformSelection, explicit: Bool, name: String, registryURI: String, client: RegistryClient,
        warn: (@Sendable (String) -> Void)? = nil
    ) async throws -> ImagePin {
        var pin = ImagePin(name: name, registry: registryURI, repository: image.repository, tag: image.tag, images: [])
        let resolved = try await client.resolveImages(image, selection: selection)
        if let index = resolved.index {
            pin.indexDigest = index.digest
            pin.indexMediaType = index.mediaType
            pin.images = resolved.images.map { ImagePin.PlatformImage(platform: $0.platform, document: $0.document, manifest: $0.manifest) }
        } else if let single = resolved.images.first {
            // A single-platform image: its config says which platform it is.
            let platform = try? await configuration(of: single.manifest, image: image, client: client).platform
            if let platform, case .platforms(let wanted) = selection {
                let name = "\(client.endpoint.host)/\(image.repositoryReference)"
                // Explicit platforms are each required, as from an index: one the image is not is refused, not dropped.
                if explicit, let missing = wanted.first(where: { !$0.matches(platform) }) {
                    throw ImageSpecError.platformMismatch(image: name, requested: missing, actual: platform)
                }
                if !explicit, !wanted.contains(where: { $0.matches(platform) }) {
                    warn?("\(name) is a single \(platform) image, not one for this machine (\(Platform.host)); pinning it as it is")
                }
            }
            pin.images = [ImagePin.PlatformImage(platform: platform, document: single.document, manifest: single.manifest)]
        }
        if registryURI == client.endpoint.v2URL { pin.registry = client.effectiveEndpoint.v2URL }
        pin.digest = pin.resolvedDigest
        pin.mediaType = pin.resolvedMediaType
        return pin
    }

    /// The config of `manifest`, read into memory (configs are small; one
    /// over 4 MiB is refused).
    public static func configuration(of manifest: ImageManifest, image: ImageReference, client: RegistryClient) async throws -> ImageConfiguration {
        try ImageConfiguration(bytes: try await client.fetchBlobBytes(manifest.config, of: image))
    }
}
