import Foundation
import ImageReference
import ImageSpec
import NixExpression
import Testing

/// The generators against golden files, and (with Nix installed) against
/// Nix reading them back.
@Suite struct GeneratorTests {
    /// The seed: hocker's debian:jessie manifest, as `docker2nix library/debian jessie` sees it.
    static func seedImage() throws -> FetchDockerImage {
        let data = try Data(contentsOf: URL(fileURLWithPath: Golden.path("manifest-debian_jessie.json")))
        let manifest = try #require(try ManifestDocument(bytes: data, contentType: nil).imageManifest)
        let (repository, imageName) = FetchDockerImage.split(repositoryPath: "library/debian")
        return FetchDockerImage(
            name: imageName, registry: "https://registry-1.docker.io/v2/", repository: repository, imageName: imageName, tag: "jessie",
            config: manifest.config, layers: manifest.layers)
    }

    /// A name, registry and repository full of characters Nix strings must escape.
    static func hostileImage() throws -> FetchDockerImage {
        FetchDockerImage(
            name: #"my "app" \ ${builtins.abort "x"} $HOME"#,
            registry: #"https://registry.example/v2/${x}"#,
            repository: #"team\"${y}"#,
            imageName: "app\ttab\nline",
            tag: #"v1${z}"\"#,
            config: try blob("1", 100, "application/vnd.docker.container.image.v1+json"),
            layers: [
                try blob("2", 200, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
                try blob("3", 300, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
                try blob("2", 200, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            ])
    }

    /// A blob whose digest is 64 times `fill`.
    static func blob(_ fill: Character, _ size: Int64, _ type: String) throws -> Descriptor {
        Descriptor(mediaType: type, digest: try Digest(parsing: "sha256:" + String(repeating: fill, count: 64)), size: size)
    }

    static func pin() throws -> ImagePin {
        let layerType = "application/vnd.oci.image.layer.v1.tar+gzip"
        return ImagePin(
            name: #"app "${quoted}""#, registry: "http://127.0.0.1:5000/v2/", repository: "team/app", tag: "v1",
            indexDigest: try Digest(parsing: "sha256:" + String(repeating: "a", count: 64)),
            indexMediaType: "application/vnd.oci.image.index.v1+json",
            images: [
                ImagePin.PlatformImage(
                    platform: "linux/amd64", manifestDigest: try Digest(parsing: "sha256:" + String(repeating: "b", count: 64)),
                    manifestMediaType: "application/vnd.oci.image.manifest.v1+json", manifestSize: 812,
                    config: try Self.blob("c", 1234, "application/vnd.oci.image.config.v1+json"),
                    layers: [try Self.blob("d", 300_000, layerType), try Self.blob("e", 4096, layerType)]),
                ImagePin.PlatformImage(
                    platform: "linux/arm64/v8", manifestDigest: try Digest(parsing: "sha256:" + String(repeating: "f", count: 64)),
                    manifestMediaType: "application/vnd.oci.image.manifest.v1+json", manifestSize: 813,
                    config: try Self.blob("0", 1235, "application/vnd.oci.image.config.v1+json"),
                    layers: [try Self.blob("d", 300_000, layerType), try Self.blob("9", 4097, layerType)]),
            ])
    }

    // MARK: Golden files

    @Test func seedExpression() throws {
        let source = try FetchDockerExpression.render(Self.seedImage())
        try Golden.check(source, against: "debian_jessie.nix")
        #expect(source.contains(#"sha256 = "1rwinmvfc8jxn54y7qnj82acrc97y7xcnn22zaz67y76n4wbwjh5";"#))
        #expect(source.contains(#"sha256 = "1744l0c8ag5y7ck9nhr6r5wy9frmaxi7xh80ypgnxb7g891m42nd";"#))
        #expect(source.hasPrefix("{ fetchDockerConfig, fetchDockerLayer, fetchdocker }:\nfetchdocker rec {\n    name = \"debian\";\n"))
    }

    @Test func escapedExpression() throws {
        try Golden.check(try FetchDockerExpression.render(Self.hostileImage()), against: "escaping.nix")
    }

    @Test func hockerFormatExpression() throws {
        try Golden.check(try HockerImageExpression.render(Self.pin()), against: "image-hocker.nix")
    }

    @Test func jsonDocument() throws {
        try Golden.check(String(decoding: try Self.pin().jsonBytes(), as: UTF8.self), against: "image.json")
    }

    @Test func jsonRoundTrips() throws {
        let pin = try Self.pin()
        #expect(try JSONDecoder().decode(ImagePin.self, from: Data(pin.jsonBytes())) == pin)
    }

    @Test func jsonKeepsNulls() throws {
        var pin = try Self.pin()
        pin.tag = nil
        pin.indexDigest = nil
        pin.indexMediaType = nil
        pin.images[0].platform = nil
        let object = try #require(try JSONSerialization.jsonObject(with: Data(pin.jsonBytes())) as? [String: Any])
        #expect(object["tag"] is NSNull)
        #expect(object["indexDigest"] is NSNull)
        #expect(((object["images"] as? [[String: Any]])?.first?["platform"]) is NSNull)
    }

    @Test func repositorySplit() {
        #expect(FetchDockerImage.split(repositoryPath: "library/debian") == ("library", "debian"))
        #expect(FetchDockerImage.split(repositoryPath: "team/sub/app") == ("team/sub", "app"))
        #expect(FetchDockerImage.split(repositoryPath: "app") == ("", "app"))
    }

    // MARK: Against Nix itself

    /// The seed expression and the others parse.
    @Test(
        .enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")),
        arguments: ["debian_jessie.nix", "escaping.nix", "image-hocker.nix"])
    func nixParses(_ file: String) async throws {
        _ = try await NixTool.run("nix-instantiate", ["--parse", Golden.path(file)])
    }

    /// Evaluated with stand-in functions, the escaped expression gives back
    /// exactly the values that went in.
    @Test(.enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")))
    func nixReadsEscapedValuesBack() async throws {
        let image = try Self.hostileImage()
        let call = """
            (import \(Golden.path("escaping.nix"))) {
              fetchdocker = a: { inherit (a) name registry repository imageName tag; layers = a.imageLayers; config = a.imageConfig; };
              fetchDockerConfig = a: a;
              fetchDockerLayer = a: a;
            }
            """
        let json = try await NixTool.run("nix-instantiate", ["--eval", "--strict", "--json", "-E", call])
        let value = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(value["name"] as? String == image.name)
        #expect(value["registry"] as? String == image.registry)
        #expect(value["repository"] as? String == image.repository)
        #expect(value["imageName"] as? String == image.imageName)
        #expect(value["tag"] as? String == image.tag)
        let config = try #require(value["config"] as? [String: Any])
        #expect(config["tag"] as? String == image.tag)
        #expect(config["sha256"] as? String == (try NixHash.base32(image.config.digest)))
        let layers = try #require(value["layers"] as? [[String: Any]])
        #expect(layers.compactMap { $0["layerDigest"] as? String } == image.layers.map(\.digest.hex))
        #expect(layers.compactMap { $0["registry"] as? String } == Array(repeating: image.registry, count: 3))
    }

    /// The `--format hocker` expression hands `fetchImage` the very document `--json` prints.
    @Test(.enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")))
    func nixSeesTheJSONDocument() async throws {
        let call = "(import \(Golden.path("image-hocker.nix"))) { fetchImage = a: a; }"
        let json = try await NixTool.run("nix-instantiate", ["--eval", "--strict", "--json", "-E", call])
        let fromNix = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary
        let fromJSON = try JSONSerialization.jsonObject(with: Data(Self.pin().jsonBytes())) as? NSDictionary
        #expect(fromNix != nil)
        #expect(fromNix == fromJSON)
    }
}
