/// The media types of manifests and blobs a registry serves.
public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// Not in any Docker specification, but written by some builders
    /// (older BuildKit, Kaniko) for zstd layers in Docker schema 2
    /// manifests; the bytes are those of ``ociLayerZstd``.
    public static let dockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// OCI's non-distributable layers (deprecated in image-spec 1.1, still served).
    public static let ociForeignLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    /// The empty JSON object `{}` (OCI 1.1): the config of an artifact that
    /// needs none, or a layer that holds nothing.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    /// Image manifests, in the order of preference sent in `Accept`.
    public static let imageManifests = [ociManifest, dockerManifest]
    /// Indexes (manifest lists).
    public static let indexes = [ociIndex, dockerManifestList]

    /// What `Accept` carries when asking for a manifest that may be an index.
    public static let acceptAnyManifest = (imageManifests + indexes).joined(separator: ", ")

    /// Whether a media type names an image manifest.
    public static func isImageManifest(_ type: String) -> Bool { imageManifests.contains(type) }
    /// Whether a media type names an index or manifest list.
    public static func isIndex(_ type: String) -> Bool { indexes.contains(type) }
    /// Whether a media type names a schema 1 manifest, which is not supported.
    public static func isSchema1(_ type: String) -> Bool { type == dockerSchema1 || type == dockerSchema1Signed }

    /// Whether a config media type is a container image's (OCI or Docker):
    /// what docker and podman load.
    public static func isImageConfig(_ type: String) -> Bool { type == ociConfig || type == dockerConfig }

    /// Whether a layer media type is a filesystem tar (plain, gzip, zstd,
    /// foreign), the only layers a container image has.
    public static func isImageLayer(_ type: String) -> Bool {
        type.hasPrefix("application/vnd.oci.image.layer.") || type.hasPrefix("application/vnd.docker.image.rootfs.")
    }

    /// Whether a layer is one a registry need not hold (Windows base
    /// layers): its descriptor's `urls` say where else it is.
    public static func isForeignLayer(_ type: String) -> Bool {
        type.hasPrefix("application/vnd.docker.image.rootfs.foreign.") || type.hasPrefix("application/vnd.oci.image.layer.nondistributable.")
    }

    /// The layer media type a blob's first bytes show: gzip, zstd, else a
    /// plain tar (for files whose media type nobody recorded).
    public static func layer(sniffing magic: some Collection<UInt8>) -> String {
        if magic.starts(with: [0x1f, 0x8b]) { return dockerLayerGzip }
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return ociLayerZstd }
        return ociLayer
    }
}
