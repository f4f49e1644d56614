/// An image manifest: Docker schema 2 or OCI. Its config and layers are
/// descriptors, layers bottom first.
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String?, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// The config and then every layer: the blobs an image is made of.
    public var blobs: [Descriptor] { [config] + layers }

    /// The sum of the config's and the layers' sizes, in bytes.
    public var totalSize: Int64 { blobs.reduce(0) { $0 + $1.size } }
}
