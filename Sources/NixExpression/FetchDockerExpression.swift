import ImageReference
import ImageSpec

/// Why an expression cannot be generated.
public enum NixGenerationError: UserFacingError, Hashable {
    /// Nix fixed-output hashes here are SHA-256; the image uses another digest.
    case unsupportedDigest(Digest)
    /// The image lists no platform image to pin.
    case noImages
    /// The tree could not be printed.
    case render(NixRenderError)

    public var message: String {
        switch self {
        case .unsupportedDigest(let digest):
            "blob \(digest) is not a sha256 digest; Nix expressions can only pin sha256 blobs"
        case .noImages:
            "there is no image manifest to pin"
        case .render(let error):
            "cannot print the Nix expression: \(error)"
        }
    }
}

/// What the hocker-compatible `docker2nix` expression describes: one image
/// manifest, named as nixpkgs' `fetchdocker` names it.
public struct FetchDockerImage: Sendable, Hashable {
    /// `name`: the `--altName`, else `imageName`.
    public var name: String
    /// `registry`: the API URI, `https://registry-1.docker.io/v2/`.
    public var registry: String
    /// `repository`: the repository path before the last `/` (`library`).
    public var repository: String
    /// `imageName`: the last component of the repository path (`debian`).
    public var imageName: String
    /// `tag`: the tag (or digest) the manifest was fetched by.
    public var tag: String
    /// The config blob.
    public var config: Descriptor
    /// The layer blobs, bottom first.
    public var layers: [Descriptor]

    public init(name: String, registry: String, repository: String, imageName: String, tag: String, config: Descriptor, layers: [Descriptor]) {
        self.name = name
        self.registry = registry
        self.repository = repository
        self.imageName = imageName
        self.tag = tag
        self.config = config
        self.layers = layers
    }

    /// Splits a full repository path (`library/debian`, `team/sub/app`) into
    /// nixpkgs' `repository` (everything before the last `/`, possibly empty)
    /// and `imageName` (the last component).
    public static func split(repositoryPath: String) -> (repository: String, imageName: String) {
        guard let slash = repositoryPath.lastIndex(of: "/") else { return ("", repositoryPath) }
        return (String(repositoryPath[..<slash]), String(repositoryPath[repositoryPath.index(after: slash)...]))
    }
}

/// The expression the Haskell hocker's `docker2nix` printed: a function of
/// `{ fetchDockerConfig, fetchDockerLayer, fetchdocker }` calling
/// `fetchdocker rec { ... }`, with every blob's SHA-256 in Nix's base-32.
/// Callable with `callPackage` against nixpkgs or against this project's
/// `nix/` library.
public enum FetchDockerExpression {
    /// The expression tree for `image`.
    public static func expression(for image: FetchDockerImage) throws(NixGenerationError) -> NixExpr {
        let fetchDockerConfig = NixExpr.call(
            .variable("fetchDockerConfig"),
            .attrs([
                .inherit(["tag", "registry", "repository", "imageName"]),
                .attr("sha256", .string(try NixHash.base32(image.config.digest))),
            ]))
        var layerBindings: [NixBinding] = []
        for (index, layer) in image.layers.enumerated() {
            layerBindings.append(
                .attr(
                    "layer\(index)",
                    .call(
                        .variable("fetchDockerLayer"),
                        .attrs([
                            .inherit(["registry", "repository", "imageName"]),
                            .attr("layerDigest", .string(layer.digest.hex)),
                            .attr("sha256", .string(try NixHash.base32(layer.digest))),
                        ]))))
        }
        let layerList = NixExpr.list(image.layers.indices.map { .variable("layer\($0)") })
        let imageLayers: NixExpr = layerBindings.isEmpty ? layerList : .letIn(layerBindings, layerList)
        let body = NixExpr.call(
            .variable("fetchdocker"),
            .recAttrs([
                .attr("name", .string(image.name)),
                .attr("registry", .string(image.registry)),
                .attr("repository", .string(image.repository)),
                .attr("imageName", .string(image.imageName)),
                .attr("tag", .string(image.tag)),
                .attr("imageConfig", fetchDockerConfig),
                .attr("imageLayers", imageLayers),
            ]))
        return .lambda(.names(["fetchDockerConfig", "fetchDockerLayer", "fetchdocker"]), body)
    }

    /// The source text, laid out exactly as hocker 1.0.x printed it.
    public static func render(_ image: FetchDockerImage) throws(NixGenerationError) -> String {
        try NixGenerationError.printing(try expression(for: image), style: .hocker)
    }
}

extension NixGenerationError {
    /// `tree` printed in `style`, a printer failure reported as a generation one.
    static func printing(_ tree: NixExpr, style: NixPrinter.Style) throws(NixGenerationError) -> String {
        do {
            return try NixPrinter(style: style).render(tree)
        } catch {
            throw .render(error)
        }
    }
}
