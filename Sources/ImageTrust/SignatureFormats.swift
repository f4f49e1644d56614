#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// The claims inside a signature: which manifest digest, under which
/// name. Read from the simple-signing JSON that both formats sign:
/// `{"critical": {"type": …, "image": {"docker-manifest-digest": …},
/// "identity": {"docker-reference": …}}, "optional": {…}}`.
///
/// Nothing here is trusted until the signature over these bytes has been
/// verified; the evaluation parses the payload only after that.
public struct SignedClaims: Sendable, Equatable {
    /// The kind of payload, which fixes `critical.type`.
    public enum Kind: String, Sendable {
        /// GnuPG simple signing: `atomic container signature`.
        case simpleSigning = "atomic container signature"
        /// cosign: `cosign container image signature`.
        case sigstore = "cosign container image signature"
    }

    /// `critical.image.docker-manifest-digest`, as written (any algorithm).
    public var manifestDigest: String
    /// `critical.identity.docker-reference`.
    public var dockerReference: String

    /// Parses `payload` as containers/image does: every `critical` key
    /// exactly once and no others, `optional` an object (or `null` in a
    /// cosign payload, as cosign writes it) whose `timestamp`, if any, is
    /// an integer. Returns the reason when the payload is refused.
    public static func parse(_ payload: some Collection<UInt8>, kind: Kind) -> Result<SignedClaims, SignatureFormatError> {
        let document: JSONValue
        do {
            document = try StrictJSON.parse(payload)
        } catch {
            return .failure(.invalidPayload("not JSON: \(error.description)"))
        }
        do {
            let top = try exactFields(document, ["critical", "optional"], at: "the payload")
            try checkOptional(top["optional"]!, kind: kind)
            let critical = try exactFields(top["critical"]!, ["type", "image", "identity"], at: "critical")
            guard let type = critical["type"]?.stringValue else { return .failure(.invalidPayload("critical.type is not a string")) }
            guard type == kind.rawValue else { return .failure(.invalidPayload("unrecognized signature type \"\(type)\"")) }
            let image = try exactFields(critical["image"]!, ["docker-manifest-digest"], at: "critical.image")
            guard let digest = image["docker-manifest-digest"]?.stringValue else {
                return .failure(.invalidPayload("critical.image.docker-manifest-digest is not a string"))
            }
            guard Self.isDigestSyntax(digest) else { return .failure(.invalidPayload("invalid docker-manifest-digest \"\(digest)\"")) }
            let identity = try exactFields(critical["identity"]!, ["docker-reference"], at: "critical.identity")
            guard let reference = identity["docker-reference"]?.stringValue else {
                return .failure(.invalidPayload("critical.identity.docker-reference is not a string"))
            }
            return .success(SignedClaims(manifestDigest: digest, dockerReference: reference))
        } catch {
            return .failure(error)
        }
    }

    private static func exactFields(_ value: JSONValue, _ keys: Set<String>, at path: String) throws(SignatureFormatError) -> JSONObject {
        guard let object = value.objectValue else { throw .invalidPayload("\(path) is not a JSON object") }
        if let unknown = object.keys.first(where: { !keys.contains($0) }) { throw .invalidPayload("unknown key \"\(unknown)\" in \(path)") }
        if let missing = keys.sorted().first(where: { object[$0] == nil }) { throw .invalidPayload("key \"\(missing)\" missing in \(path)") }
        return object
    }

    private static func checkOptional(_ value: JSONValue, kind: Kind) throws(SignatureFormatError) {
        if value == .null, kind == .sigstore { return }
        guard let optional = value.objectValue else { throw .invalidPayload("optional is not a JSON object") }
        if let timestamp = optional["timestamp"] {
            guard case .number(let text) = timestamp, let number = Double(text), number.rounded() == number else {
                throw .invalidPayload("optional.timestamp is not an integer")
            }
        }
        if let creator = optional["creator"], creator.stringValue == nil { throw .invalidPayload("optional.creator is not a string") }
    }

    /// `algorithm:encoded` as the OCI digest grammar has it.
    static func isDigestSyntax(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":") else { return false }
        let algorithm = text[..<colon]
        let encoded = text[text.index(after: colon)...]
        guard !algorithm.isEmpty, !encoded.isEmpty,
            algorithm.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "+._-".contains($0)) }),
            encoded.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "=_-".contains($0)) })
        else { return false }
        switch algorithm {
        case "sha256": return encoded.count == 64 && encoded.allSatisfy(\.isLowerHexDigit)
        case "sha384": return encoded.count == 96 && encoded.allSatisfy(\.isLowerHexDigit)
        case "sha512": return encoded.count == 128 && encoded.allSatisfy(\.isLowerHexDigit)
        default: return false
        }
    }
}

/// Why a signature's bytes are not a signature hocker can read.
public enum SignatureFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A lookaside file that is empty or in no known format.
    case unrecognizedBlob(String)
    /// A signed payload that is not the simple-signing JSON.
    case invalidPayload(String)

    /// The reason without the kind.
    public var reason: String {
        switch self {
        case .unrecognizedBlob(let reason), .invalidPayload(let reason): reason
        }
    }

    public var description: String {
        switch self {
        case .unrecognizedBlob(let reason): "not a signature: \(reason)"
        case .invalidPayload(let reason): "invalid signature payload: \(reason)"
        }
    }
}

/// A cosign signature: one layer of a signature manifest (the
/// `sha256-<hex>.sig` tag or an OCI referrer) — its media type, its blob
/// (the payload) and the layer's annotations.
public struct SigstoreSignature: Sendable, Equatable {
    /// The media type of a signature layer; other layers are attachments, not signatures.
    public static let signatureMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// The base64 signature over the payload.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    /// The PEM signing certificate (keyless and PKI signatures).
    public static let certificateAnnotation = "dev.sigstore.cosign/certificate"
    /// The PEM intermediate certificates, the root last.
    public static let chainAnnotation = "dev.sigstore.cosign/chain"
    /// The Rekor bundle: `{"SignedEntryTimestamp": …, "Payload": {…}}`.
    public static let bundleAnnotation = "dev.sigstore.cosign/bundle"

    public var mediaType: String
    public var payload: [UInt8]
    public var annotations: [String: String]

    public init(mediaType: String, payload: [UInt8], annotations: [String: String]) {
        self.mediaType = mediaType
        self.payload = payload
        self.annotations = annotations
    }

    /// The tag cosign stores an image's signatures under: `sha256-<hex>.sig`.
    public static func attachmentTag(for manifestDigest: Digest) -> String {
        "\(manifestDigest.algorithm.rawValue)-\(manifestDigest.hex).sig"
    }
}

/// A signature as read from a lookaside location: simple signing (an
/// OpenPGP message), or a cosign signature stored by containers/image
/// (`\0sigstore-json\n{…}`).
public enum SignatureBlob: Sendable, Equatable {
    case simpleSigning([UInt8])
    case sigstore(SigstoreSignature)

    /// Recognizes the format as containers/image does: OpenPGP packets
    /// (compressed data, one-pass signature, signature) are simple
    /// signing; a zero byte starts `FORMAT\n` then the data.
    public init(parsing bytes: [UInt8]) throws(SignatureFormatError) {
        guard let first = bytes.first else { throw .unrecognizedBlob("it is empty") }
        switch first {
        case 0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0x3D, 0xC4, 0x88, 0x89, 0x8A, 0x8B, 0xC2:
            self = .simpleSigning(bytes)
        case 0x00:
            guard let newline = bytes.firstIndex(of: 0x0A) else { throw .unrecognizedBlob("the format line has no newline") }
            let format = bytes[1..<newline]
            guard format.allSatisfy({ (0x20..<0x7F).contains($0) }) else { throw .unrecognizedBlob("the format name is not ASCII") }
            let chunk = Array(bytes[(newline + 1)...])
            switch String(decoding: format, as: UTF8.self) {
            case "simple-signing": self = .simpleSigning(chunk)
            case "sigstore-json": self = .sigstore(try Self.sigstore(chunk))
            case let other: throw .unrecognizedBlob("unknown format \"\(other)\"")
            }
        default:
            throw .unrecognizedBlob("unknown format starting with byte 0x\(String(first, radix: 16))")
        }
    }

    /// `{"mimeType": …, "payload": <base64>, "annotations": {…}}`.
    private static func sigstore(_ chunk: [UInt8]) throws(SignatureFormatError) -> SigstoreSignature {
        guard let object = (try? StrictJSON.parse(chunk))?.objectValue else { throw .unrecognizedBlob("sigstore-json data is not a JSON object") }
        let mediaType = object["mimeType"]?.stringValue ?? ""
        var payload: [UInt8] = []
        if let text = object["payload"]?.stringValue {
            guard let bytes = base64Bytes(text) else { throw .unrecognizedBlob("sigstore-json payload is not base64") }
            payload = bytes
        }
        var annotations: [String: String] = [:]
        for (key, value) in object["annotations"]?.objectValue?.members ?? [] {
            guard let text = value.stringValue else { throw .unrecognizedBlob("sigstore-json annotation \"\(key)\" is not a string") }
            annotations[key] = text
        }
        return SigstoreSignature(mediaType: mediaType, payload: payload, annotations: annotations)
    }
}

extension Character {
    var isLowerHexDigit: Bool { isASCII && (isNumber || ("a"..."f").contains(self)) }
}
