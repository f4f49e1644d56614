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
    /// is downloaded. For a single image manifest (or an index's only entry
    /// that names no platform) the config is read (in memory) to record
    /// the platform it says it is for; every other config is asked for with
    /// one `HEAD`, so a pin never names a config the registry lacks.
    /// An artifact is pinned with its type and no platform.
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
        let shown = "\(client.endpoint.host)/\(image.repositoryReference)"
        if let index = resolved.index {
            pin.indexDigest = index.digest
            pin.indexMediaType = index.mediaType
            guard !resolved.images.isEmpty else {
                if index.index?.manifests.isEmpty ?? true { throw ImageSpecError.emptyIndex(image: shown) }
                throw ImageSpecError.invalidManifest("the index \(shown) lists only attestations (unknown/unknown), no image to pin")
            }
        }
        for entry in resolved.images {
            let platform: Platform?
            if entry.platform != nil || !entry.manifest.isImage {
                platform = entry.platform
                try await requireConfig(of: entry, image: image, client: client)
            } else {
                platform = try await singlePlatform(of: entry.manifest, image: image, choice: choice, client: client, warn: warn)
            }
            pin.images.append(ImagePin.PlatformImage(platform: platform, document: entry.document, manifest: entry.manifest))
        }
        if registryURI == client.endpoint.v2URL { pin.registry = client.effectiveEndpoint.v2URL }
        pin.digest = pin.resolvedDigest
        pin.mediaType = pin.resolvedMediaType
        return (pin, documents)
    }

    /// One `HEAD` of the config `entry` names: a pin whose config the
    /// registry lacks would fail only when Nix builds it. The error names
    /// the platform.
    static func requireConfig(of entry: ResolvedImage, image: ImageReference, client: RegistryClient) async throws {
        do {
            try await client.checkBlob(entry.manifest.config.digest, of: image)
        } catch RegistryError.blobUnknown {
            throw MissingConfig(
                image: "\(client.endpoint.host)/\(image.repositoryReference)", platform: entry.platform?.description,
                config: entry.manifest.config.digest, manifest: entry.document.digest)
        }
    }

    /// The platform a single image's config names, checked against `choice`.
    private static func singlePlatform(
        of manifest: ImageManifest, image: ImageReference, choice: PlatformChoice, client: RegistryClient, warn: (@Sendable (String) -> Void)?
    ) async throws -> Platform? {
        let name = "\(client.endpoint.host)/\(image.repositoryReference)"
        let bytes: Data
        do {
            bytes = try await client.fetchBlobBytes(manifest.config, of: image)
        } catch RegistryError.blobUnknown {
            throw MissingConfig(image: name, platform: nil, config: manifest.config.digest, manifest: nil)
        }
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

/// A manifest whose config blob the registry does not hold: an image that
/// cannot be fetched, nor built from a pin of it.
public struct MissingConfig: UserFacingError, Equatable {
    /// `HOST/REPOSITORY:TAG`.
    public var image: String
    /// The platform the index lists the manifest under; nil for a single image.
    public var platform: String?
    public var config: Digest
    /// The manifest naming the config; nil when it is the one `image` names.
    public var manifest: Digest?

    public var message: String {
        let whose = platform.map { "the \($0) image of \(image)" } ?? image
        let which = manifest.map { " (manifest \($0))" } ?? ""
        return "the config \(config) of \(whose)\(which) is not in the registry, so the image cannot be fetched"
    }

    public var hints: [String] {
        ["the registry holds the manifest but not its config blob; push the image again, or pin another tag or platform"]
    }
}
