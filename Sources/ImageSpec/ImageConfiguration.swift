#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// What hocker reads of an image's config blob: the platform it was built
/// for, when it was created, its labels and its layers' diff IDs. The config
/// itself is written to archives byte for byte; this is only a view of it.
public struct ImageConfiguration: Sendable, Hashable {
    /// `os/architecture[/variant]` from the config, nil when it names none.
    public var platform: Platform?
    /// The `created` timestamp as written (RFC 3339), if any.
    public var created: String?
    /// `config.Labels`.
    public var labels: [String: String]
    /// `rootfs.diff_ids`: the digests of the uncompressed layers, bottom first.
    public var diffIDs: [Digest]
    /// `rootfs.type` (`layers`); nil when the config has no `rootfs`, as
    /// an artifact's config (`{}`) has none.
    public var rootFSType: String?

    /// Parses config bytes (JSON). Fields it does not need are ignored.
    public init(bytes: Data) throws(ImageSpecError) {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: bytes)
        } catch {
            throw .invalidConfig(DecodingProblem.describe(error))
        }
        if let os = document.os, let architecture = document.architecture, !os.isEmpty, !architecture.isEmpty {
            platform = Platform(os: os, architecture: architecture, variant: document.variant.flatMap { $0.isEmpty ? nil : $0 })
        }
        created = document.created
        labels = document.config?.Labels ?? [:]
        diffIDs = document.rootfs?.diff_ids ?? []
        rootFSType = document.rootfs.map { $0.type ?? "" }
    }

    /// Why a docker-archive of this config and `layers` layers would not
    /// load (docker and podman need `rootfs` of type `layers` with one
    /// diff ID per layer), in words that follow "the config of IMAGE"; nil
    /// when it would.
    public func unloadableReason(layers: Int) -> String? {
        guard let rootFSType else { return "has no rootfs (it is not a container image's config)" }
        guard rootFSType == "layers" else { return "has rootfs.type \"\(rootFSType)\", not \"layers\"" }
        guard diffIDs.count == layers else {
            return "lists \(diffIDs.count) diff_id\(diffIDs.count == 1 ? "" : "s") for \(layers) layer\(layers == 1 ? "" : "s")"
        }
        return nil
    }

    private struct Document: Decodable {
        struct Config: Decodable {
            var Labels: [String: String]?
        }
        struct RootFS: Decodable {
            var type: String?
            var diff_ids: [Digest]?
        }
        var os: String?
        var architecture: String?
        var variant: String?
        var created: String?
        var config: Config?
        var rootfs: RootFS?
    }
}
