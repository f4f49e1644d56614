/// An image and the registry endpoint to fetch it from: what a command's
/// arguments (`IMAGE-NAME [IMAGE-TAG]` and `--registry`) name.
public struct ImageTarget: Sendable, Hashable {
    /// Where the registry's API is: `--registry` as given, else the image's registry.
    public var endpoint: RegistryEndpoint
    public var reference: ImageReference

    public init(endpoint: RegistryEndpoint, reference: ImageReference) {
        self.endpoint = endpoint
        self.reference = reference
    }

    /// The registry as hocker printed it, `https://host/v2/`.
    public var registryURI: String { endpoint.v2URL }

    /// Resolves an image name (a reference) and an optional tag or digest
    /// against `--registry`.
    ///
    /// With a tag argument the name is relative to `--registry` (Docker Hub
    /// by default) and the argument is a tag or a digest. Without, the name
    /// is a reference; a registry host in it must agree with `--registry`.
    public init(name imageName: String, tag imageTag: String?, registry: String?, insecure: Bool) throws(ReferenceError) {
        let given = try registry.map { text throws(ReferenceError) in try RegistryEndpoint(parsing: text, insecure: insecure) }
        var reference = try ImageReference(parsing: imageName, defaultRegistry: given?.name ?? ImageReference.dockerHub)
        if let tagText = imageTag {
            guard reference.tag == nil, reference.digest == nil else {
                throw .invalidReference(imageName, reason: "it carries a tag or digest and IMAGE-TAG '\(tagText)' was given too")
            }
            if tagText.contains(":") {
                reference.digest = try Digest(parsing: tagText)
            } else {
                try ImageReference.validateTag(tagText)
                reference.tag = tagText
            }
        }
        if let given {
            if reference.explicitRegistry, reference.registry != given.name {
                throw .invalidReference(imageName, reason: "it names registry \(reference.registry) but --registry is \(given.host)")
            }
            endpoint = given
        } else {
            endpoint = RegistryEndpoint(registryName: reference.registry, insecure: insecure)
        }
        self.reference = reference
    }
}
