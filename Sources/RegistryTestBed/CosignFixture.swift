import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Cosign signatures as cosign stores them in a registry, built in memory:
/// the simple-signing payload, a layer signed with an ECDSA P-256 key (or
/// one taken from a containers/image fixture, keyless ones included), and
/// the signature manifest under the `sha256-<hex>.sig` tag or as an OCI 1.1
/// referrer. There is no cosign on the test machines; the fixtures anchor
/// that this is cosign's format.
public enum CosignFixture {
    /// The media type of a signature layer.
    public static let layerMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// The artifact type of a signature manifest found as a referrer.
    public static let artifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
    /// The annotation that holds the base64 signature over the payload.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"

    /// One signature: the layer's blob (the payload) and its annotations.
    public struct Layer: Sendable {
        public var payload: Data
        public var annotations: [String: String]

        public init(payload: Data, annotations: [String: String]) {
            self.payload = payload
            self.annotations = annotations
        }
    }

    /// What cosign signs for `manifestDigest` under the name `reference`.
    public static func payload(manifestDigest: String, reference: String) -> Data {
        struct Critical: Encodable {
            struct Identity: Encodable { var dockerReference: String
                enum CodingKeys: String, CodingKey { case dockerReference = "docker-reference" }
            }
            struct Image: Encodable { var dockerManifestDigest: String
                enum CodingKeys: String, CodingKey { case dockerManifestDigest = "docker-manifest-digest" }
            }
            var identity: Identity
            var image: Image
            var type = "cosign container image signature"
        }
        struct Payload: Encodable {
            var critical: Critical
            enum CodingKeys: String, CodingKey { case critical, optional }
            // cosign writes `"optional": null`.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(critical, forKey: .critical)
                try container.encodeNil(forKey: .optional)
            }
        }
        return encodeJSON(Payload(critical: Critical(identity: .init(dockerReference: reference), image: .init(dockerManifestDigest: manifestDigest))))
    }

    /// An ECDSA P-256 key pair, as `cosign generate-key-pair` makes (the
    /// private half kept in memory).
    public struct Key: Sendable {
        private let key: P256.Signing.PrivateKey

        public init() {
            key = P256.Signing.PrivateKey()
        }

        /// The public key as cosign writes `cosign.pub`: PEM of its SubjectPublicKeyInfo.
        public var publicKeyPEM: String { key.publicKey.pemRepresentation + "\n" }

        /// `SHA256:<hex>` of the DER SubjectPublicKeyInfo, as hocker names a cosign key.
        public var fingerprint: String {
            "SHA256:" + SHA256.hash(data: key.publicKey.derRepresentation).map { byte in
                let hex = String(byte, radix: 16)
                return hex.count == 1 ? "0" + hex : hex
            }.joined()
        }

        /// A layer of `payload` signed with this key: ECDSA over its SHA-256, DER, base64, as cosign signs.
        public func sign(_ payload: Data) throws -> Layer {
            let signature = try key.signature(for: payload)
            return Layer(payload: payload, annotations: [signatureAnnotation: signature.derRepresentation.base64EncodedString()])
        }
    }

    /// The layer a containers/image lookaside fixture holds
    /// (`\0sigstore-json\n{"mimeType", "payload", "annotations"}`): its
    /// payload and annotations as cosign put them in the registry.
    public static func layer(sigstoreJSON blob: Data) throws -> Layer {
        let prefix = Data("\0sigstore-json\n".utf8)
        guard blob.starts(with: prefix) else { throw TestBedError.httpFailed(url: "fixture", reason: "not a sigstore-json signature") }
        struct Stored: Decodable {
            var payload: String
            var annotations: [String: String]
        }
        let stored = try JSONDecoder().decode(Stored.self, from: blob.dropFirst(prefix.count))
        guard let payload = Data(base64Encoded: stored.payload) else { throw TestBedError.httpFailed(url: "fixture", reason: "the payload is not base64") }
        return Layer(payload: payload, annotations: stored.annotations)
    }

    /// The signature manifest cosign pushes under `sha256-<hex>.sig`: an
    /// OCI manifest with a config naming the payloads, one layer per signature.
    public static func tagManifest(_ layers: [Layer]) -> (manifest: FixtureBlob, blobs: [FixtureBlob]) {
        let blobs = layers.map { FixtureBlob($0.payload, mediaType: layerMediaType) }
        struct Config: Encodable {
            struct RootFS: Encodable {
                var type = "layers"
                var diff_ids: [String]
            }
            var architecture = ""
            var os = ""
            var created = "0001-01-01T00:00:00Z"
            var config: [String: String] = [:]
            var rootfs: RootFS
        }
        let config = FixtureBlob(encodeJSON(Config(rootfs: .init(diff_ids: blobs.map(\.digest)))), mediaType: "application/vnd.oci.image.config.v1+json")
        let document = ManifestJSON(mediaType: TestMediaTypes.ociManifest, config: .init(config), layers: descriptors(layers, blobs))
        return (FixtureBlob(encodeJSON(document), mediaType: TestMediaTypes.ociManifest), [config] + blobs)
    }

    /// The signature manifest as an OCI 1.1 referrer of `subject` (cosign's
    /// `--registry-referrers-mode=oci-1-1`): the empty config, the artifact
    /// type, the same layers.
    public static func referrerManifest(_ layers: [Layer], subject: FixtureBlob) -> (manifest: FixtureBlob, blobs: [FixtureBlob]) {
        let blobs = layers.map { FixtureBlob($0.payload, mediaType: layerMediaType) }
        let empty = FixtureBlob(Data("{}".utf8), mediaType: "application/vnd.oci.empty.v1+json")
        let document = ManifestJSON(
            mediaType: TestMediaTypes.ociManifest, artifactType: artifactType, config: .init(empty), layers: descriptors(layers, blobs),
            subject: .init(subject))
        return (FixtureBlob(encodeJSON(document), mediaType: TestMediaTypes.ociManifest), [empty] + blobs)
    }

    /// The tag cosign stores `digest`'s signatures under.
    public static func tag(for digest: String) -> String {
        digest.replacing(":", with: "-") + ".sig"
    }

    private static func descriptors(_ layers: [Layer], _ blobs: [FixtureBlob]) -> [DescriptorJSON] {
        zip(layers, blobs).map { layer, blob in
            DescriptorJSON(mediaType: blob.mediaType, digest: blob.digest, size: blob.size, artifactType: nil, annotations: layer.annotations)
        }
    }
}
