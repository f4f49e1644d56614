#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageReference
import ImageSpec
import RegistryClient

extension ImagePin {
    /// Resolves `image` to a pin: the index it names, if any, and an image
    /// manifest for each platform `choice` picks — manifests only, no layer
    /// is downloaded. For a single image manifest the config is read (in
    /// memory) to record the platform it says it is for.
    ///
    /// A single image whose config contradicts the platforms named is
    /// refused (it is not an index to pick from), as is one whose config
    /// does not parse when platforms were named; without a choice, either
    /// gets a warning through `warn`.
    ///
    /// - Parameters:
    ///   - name: the pin's short name.
    ///   - registryURI: the registry as the pin records it (`https://host/v2/`);
    ///     the client's own endpoint is recorded with the scheme it answered
    ///     over (a bare loopback host may have turned out to speak plain http).
    public static func resolve(
        _ image: ImageReference, platforms choice: PlatformChoice, name: String, registryURI: String, client: RegistryClient,
        warn: (@Sendable (String) -> Void)? = nil
    ) async throws -> ImagePin {
        try await resolveDocuments(image, platforms: choice, name: name, registryURI: registryURI, client: client, warn: warn).pin
    }

    /// A pin, as ``resolve(_:platforms:name:registryURI:client:warn:)``
    /// makes it, and the manifests it records as they were served: the
    /// index, if any, then each platform's (what a signature policy is
    /// checked on).
    public static func resolveDocuments(
        _ image: ImageReference, platforms choice: PlatformChoice, name: String, registryURI: String, client: RegistryClient,
        warn: (@Sendable (String) -> Void)? = nil
    ) async throws -> (pin: ImagePin, documents: [ManifestDocument]) {
        var pin = ImagePin(name: name, registry: registryURI, repository: image.repository, tag: image.tag, images: [])
        let resolved = try await client.resolveImages(image, platforms: choice)
        let documents = (resolved.index.map { [$0] } ?? []) + resolved.images.map(\.document)
        if let index = resolved.index {
            pin.indexDigest = index.digest
            pin.indexMediaType = index.mediaType
            pin.images = resolved.images.map { ImagePin.PlatformImage(platform: $0.platform, document: $0.document, manifest: $0.manifest) }
        } else if let single = resolved.images.first {
            let platform = try await singlePlatform(of: single.manifest, image: image, choice: choice, client: client, warn: warn)
            pin.images = [ImagePin.PlatformImage(platform: platform, document: single.document, manifest: single.manifest)]
        }
        if registryURI == client.endpoint.v2URL { pin.registry = client.effectiveEndpoint.v2URL }
        pin.digest = pin.resolvedDigest
        pin.mediaType = pin.resolvedMediaType
        return (pin, documents)
    }

    /// The platform a single image's config names, checked against `choice`.
    private static func singlePlatform(
        of manifest: ImageManifest, image: ImageReference, choice: PlatformChoice, client: RegistryClient, warn: (@Sendable (String) -> Void)?
    ) async throws -> Platform? {
        let name = "\(client.endpoint.host)/\(image.repositoryReference)"
        let bytes = try await client.fetchBlobBytes(manifest.config, of: image)
        let platform: Platform?
        do {
            platform = try ImageConfiguration(bytes: bytes).platform
        } catch {
            if case .platforms(let wanted) = choice {
                throw ImageSpecError.platformUnchecked(image: name, requested: wanted[0], reason: error.message)
            }
            warn?("the config of \(name) does not parse (\(error.message)); pinning it with no platform")
            return nil
        }
        guard let platform else { return nil }
        switch choice {
        case .platforms(let wanted):
            // Each named platform is required, as from an index: one the image is not is refused, not dropped.
            if let missing = wanted.first(where: { !$0.matches(platform) }) {
                throw ImageSpecError.platformMismatch(image: name, requested: missing, actual: platform)
            }
        case .host where !Platform.host.matches(platform):
            warn?("\(name) is a single \(platform) image, not one for this machine (\(Platform.host)); pinning it as it is")
        case .host, .all, .any:
            break
        }
        return platform
    }

    /// The config of `manifest`, read into memory (configs are small; one
    /// over 4 MiB is refused).
    public static func configuration(of manifest: ImageManifest, image: ImageReference, client: RegistryClient) async throws -> ImageConfiguration {
        try ImageConfiguration(bytes: try await client.fetchBlobBytes(manifest.config, of: image))
    }
}
