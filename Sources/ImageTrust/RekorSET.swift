#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto

/// A Rekor signed entry timestamp (`dev.sigstore.cosign/bundle`): the
/// transparency log's signature over its record of a cosign signature,
/// checked offline with the log's public key.
///
/// The SET signs the canonical JSON (RFC 8785) of
/// `{"body", "integratedTime", "logIndex", "logID"}`; the body is the
/// `hashedrekord` entry, which must record the very signature, key or
/// certificate, and payload hash being verified.
enum RekorSET {
    /// Verifies `bundle` with any of `rekorKeys` and matches its entry
    /// against the signature. Returns the entry's integrated time, or why
    /// the SET is refused.
    ///
    /// - Parameters:
    ///   - keyOrCertificateDER: the DER of the public key (SubjectPublicKeyInfo) or certificate that made the signature.
    ///   - signature: the decoded signature over `payload`.
    static func verify(
        bundle: String, rekorKeys: [SigstorePublicKey], keyOrCertificateDER: [UInt8], signature: [UInt8], payload: [UInt8]
    ) -> Result<Date, RekorSETError> {
        guard let set = (try? StrictJSON.parse(Array(bundle.utf8)))?.objectValue, Set(set.keys) == ["SignedEntryTimestamp", "Payload"],
            let timestampText = set["SignedEntryTimestamp"]?.stringValue, let setSignature = base64Bytes(timestampText),
            let setPayload = set["Payload"]
        else { return .failure(RekorSETError("the Rekor bundle is not a JSON object of SignedEntryTimestamp and Payload")) }
        guard let canonical = CanonicalJSON.serialize(setPayload) else { return .failure(RekorSETError("the Rekor bundle's payload cannot be canonicalized")) }
        guard rekorKeys.contains(where: { $0.isValidSignature(setSignature, for: canonical) }) else {
            return .failure(RekorSETError("the Rekor SET is not signed by the policy's Rekor key"))
        }
        // Read from the canonical bytes that were verified, not from the text delivered.
        guard let entry = (try? StrictJSON.parse(canonical))?.objectValue, Set(entry.keys) == ["body", "integratedTime", "logIndex", "logID"],
            let bodyText = entry["body"]?.stringValue, let body = base64Bytes(bodyText),
            let integratedTime = entry["integratedTime"]?.int64Value, entry["logIndex"]?.int64Value != nil, entry["logID"]?.stringValue != nil
        else { return .failure(RekorSETError("the Rekor SET payload is not {body, integratedTime, logIndex, logID}")) }
        switch matchHashedRekord(body, keyOrCertificateDER: keyOrCertificateDER, signature: signature, payload: payload) {
        case .some(let problem): return .failure(RekorSETError(problem))
        case .none: return .success(Date(timeIntervalSince1970: TimeInterval(integratedTime)))
        }
    }

    /// Why the `hashedrekord` v0.0.1 entry does not record this signature, or nil when it does.
    static func matchHashedRekord(_ body: [UInt8], keyOrCertificateDER: [UInt8], signature: [UInt8], payload: [UInt8]) -> String? {
        guard let record = (try? StrictJSON.parse(body))?.objectValue else { return "the Rekor entry is not a JSON object" }
        guard record["kind"]?.stringValue == "hashedrekord" else { return "the Rekor entry is not a hashedrekord" }
        guard record["apiVersion"]?.stringValue == "0.0.1" else { return "the Rekor entry's hashedrekord version is not 0.0.1" }
        guard let spec = record["spec"]?.objectValue else { return "the Rekor entry has no spec" }
        guard let recordedSignature = spec["signature"]?.objectValue else { return "the Rekor entry has no signature" }
        guard let keyText = recordedSignature["publicKey"]?.objectValue?["content"]?.stringValue, let keyPEM = base64Bytes(keyText)
        else { return "the Rekor entry has no signature.publicKey" }
        guard let block = PEMBlock.single(in: keyPEM) else { return "the Rekor entry's public key is not one PEM block" }
        guard block.der == keyOrCertificateDER else { return "the Rekor entry records another public key or certificate" }
        guard let contentText = recordedSignature["content"]?.stringValue, let content = base64Bytes(contentText), content == signature
        else { return "the Rekor entry records another signature" }
        guard let hash = spec["data"]?.objectValue?["hash"]?.objectValue else { return "the Rekor entry has no data.hash" }
        guard hash["algorithm"]?.stringValue == "sha256" else { return "the Rekor entry's data hash is not SHA-256" }
        let expected = SHA256.hash(data: payload).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        guard hash["value"]?.stringValue?.lowercased() == expected else { return "the Rekor entry records another payload" }
        return nil
    }
}

/// Why a Rekor SET is refused.
struct RekorSETError: Error, Sendable, Equatable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// RFC 8785 JSON canonicalization, for the values a Rekor SET carries:
/// members sorted by their keys' UTF-16 code units, no white space,
/// strings with the minimal escapes, numbers that are integers of at most
/// 2^53 in magnitude. Nil for other numbers (which a SET never holds).
enum CanonicalJSON {
    static func serialize(_ value: JSONValue) -> [UInt8]? {
        var output = ""
        guard write(value, into: &output) else { return nil }
        return Array(output.utf8)
    }

    private static func write(_ value: JSONValue, into output: inout String) -> Bool {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let text):
            guard let integer = Int64(text), abs(integer) <= 1 << 53 else { return false }
            output += String(integer)
        case .string(let text): writeString(text, into: &output)
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                guard write(element, into: &output) else { return false }
            }
            output += "]"
        case .object(let object):
            output += "{"
            let sorted = object.members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) }
            for (index, member) in sorted.enumerated() {
                if index > 0 { output += "," }
                writeString(member.key, into: &output)
                output += ":"
                guard write(member.value, into: &output) else { return false }
            }
            output += "}"
        }
        return true
    }

    private static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
