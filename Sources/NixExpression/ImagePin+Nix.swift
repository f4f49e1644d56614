import ImageReference
import ImageSpec

extension ImagePin {
    /// The attribute set with the JSON document's fields, in a fixed order.
    ///
    /// - Throws: `NixGenerationError.unsupportedDigest` for a blob whose
    ///   digest is not SHA-256 (fixed-output hashes here are SHA-256).
    public func nixValue() throws(NixGenerationError) -> NixExpr {
        var imageValues: [NixExpr] = []
        for image in images { imageValues.append(try image.nixValue()) }
        return .attrs([
            .attr("formatVersion", .integer(Int64(formatVersion))),
            .attr("name", .string(name)),
            .attr("registry", .string(registry)),
            .attr("repository", .string(repository)),
            .attr("tag", .optionalString(tag)),
            .attr("digest", .optionalString(digest?.description)),
            .attr("mediaType", .optionalString(mediaType)),
            .attr("indexDigest", .optionalString(indexDigest?.description)),
            .attr("indexMediaType", .optionalString(indexMediaType)),
            .attr("images", .list(imageValues)),
        ])
    }
}

extension ImagePin.PlatformImage {
    func nixValue() throws(NixGenerationError) -> NixExpr {
        var layerValues: [NixExpr] = []
        for layer in layers { layerValues.append(try Self.blob(layer)) }
        return .attrs([
            .attr("platform", .optionalString(platform)),
            .attr("manifestDigest", .string(manifestDigest.description)),
            .attr("manifestMediaType", .string(manifestMediaType)),
            .attr("manifestSize", .integer(manifestSize)),
            .attr("config", try Self.blob(config)),
            .attr("layers", .list(layerValues)),
        ])
    }

    /// A blob as the pin writes it: digest, size, media type and SRI hash.
    private static func blob(_ descriptor: Descriptor) throws(NixGenerationError) -> NixExpr {
        .attrs([
            .attr("digest", .string(descriptor.digest.description)),
            .attr("size", .integer(descriptor.size)),
            .attr("mediaType", .string(descriptor.mediaType)),
            .attr("hash", .string(try NixHash.sri(descriptor.digest))),
        ])
    }
}

/// `docker2nix --format hocker`: `{ fetchImage }: fetchImage { <the pin> }`,
/// for the project's own `nix/` library, which picks the platform for the
/// system it evaluates for.
public enum HockerImageExpression {
    /// The expression tree for `pin`.
    public static func expression(for pin: ImagePin) throws(NixGenerationError) -> NixExpr {
        guard !pin.images.isEmpty else { throw .noImages }
        return .lambda(.names(["fetchImage"]), .call(.variable("fetchImage"), try pin.nixValue()))
    }

    /// The source text, in the conventional layout.
    public static func render(_ pin: ImagePin) throws(NixGenerationError) -> String {
        try NixGenerationError.printing(try expression(for: pin), style: .standard)
    }
}
