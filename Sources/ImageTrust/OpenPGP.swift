#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies OpenPGP signed messages (simple-signing signatures) against a
/// keyring. hocker's implementation runs GnuPG's `gpgv` with a keyring
/// made for the one call; tests may bring another.
public protocol OpenPGPVerifier: Sendable {
    /// Verifies `message` (a signed OpenPGP message, binary) with the keys
    /// in `keyring` (binary transferable public keys, concatenated) and no
    /// others.
    ///
    /// - Returns: what the verification found, good or not.
    /// - Throws: only when verification could not run at all (the tool is
    ///   missing, it timed out); an evaluation then has no verdict.
    func verify(message: [UInt8], keyring: [UInt8]) async throws -> OpenPGPOutcome
}

/// What an OpenPGP verifier found in one signed message.
public enum OpenPGPOutcome: Sendable, Equatable {
    /// One good signature by a key of the keyring, neither expired nor
    /// revoked. `signingKey` is the fingerprint of the (sub)key that signed,
    /// `primaryKey` its primary key's; `content` the signed literal data.
    case good(content: [UInt8], signingKey: String, primaryKey: String)
    /// The signature does not match the data.
    case badSignature(keyID: String)
    /// Made by a key that is not in the keyring (its long key ID, and its
    /// fingerprint when the signature records it).
    case unknownKey(keyID: String, fingerprint: String?)
    /// The signature itself has expired.
    case expiredSignature(primaryKey: String)
    /// The key that made it has expired.
    case expiredKey(primaryKey: String)
    /// The key (or the subkey) that made it has been revoked.
    case revokedKey(primaryKey: String, signingKey: String)
    /// No signature at all: literal data only, encrypted data, or not OpenPGP.
    case notSigned(String)
    /// More than one signature in the message; simple signing has exactly one.
    case multipleSignatures(Int)
    /// Anything else the verifier reported (an unsupported algorithm, a damaged key).
    case failed(String)
}

/// ASCII armor (RFC 4880 §6.2): keys in policies are often armored, and
/// `gpgv` reads binary keyrings only.
public enum OpenPGPArmor {
    /// Why armored text cannot be decoded.
    public struct DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The binary packets of `bytes`: the concatenation of every armored
    /// block in it when it is armored (text around the blocks ignored, each
    /// block's CRC checked), else the bytes unchanged.
    public static func dearmor(_ bytes: [UInt8]) throws(DecodingError) -> [UInt8] {
        guard let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN PGP ") else { return bytes }
        var result: [UInt8] = []
        var inBlock = false
        var inHeaders = false
        var body = ""
        var checksum: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.trimmingTrailingWhitespace()
            if !inBlock {
                if trimmed.hasPrefix("-----BEGIN PGP "), trimmed.hasSuffix("-----") {
                    (inBlock, inHeaders, body, checksum) = (true, true, "", nil)
                }
                continue
            }
            if trimmed.hasPrefix("-----END PGP ") {
                result += try decodeBlock(body, checksum: checksum)
                inBlock = false
            } else if inHeaders {
                // Header lines ("Version: …") until the first blank line; a block without headers starts its data at once.
                if trimmed.isEmpty {
                    inHeaders = false
                } else if !trimmed.contains(":") {
                    inHeaders = false
                    body += trimmed
                }
            } else if trimmed.hasPrefix("="), trimmed.count == 5 {
                checksum = String(trimmed.dropFirst())
            } else {
                body += trimmed
            }
        }
        guard !inBlock else { throw DecodingError(reason: "an armored block has no END line") }
        return result
    }

    private static func decodeBlock(_ body: String, checksum: String?) throws(DecodingError) -> [UInt8] {
        guard let data = Data(base64Encoded: body) else { throw DecodingError(reason: "an armored block is not base64") }
        let bytes = Array(data)
        if let checksum {
            guard let expected = Data(base64Encoded: checksum), expected.count == 3 else {
                throw DecodingError(reason: "an armored block's checksum is not base64")
            }
            let crc = crc24(bytes)
            guard Array(expected) == [UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff)] else {
                throw DecodingError(reason: "an armored block's checksum does not match its data")
            }
        }
        return bytes
    }

    /// The CRC-24 of RFC 4880 §6.1.
    static func crc24(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xB7_04CE
        for byte in bytes {
            crc ^= UInt32(byte) << 16
            for _ in 0..<8 {
                crc <<= 1
                if crc & 0x100_0000 != 0 { crc ^= 0x186_4CFB }
            }
        }
        return crc & 0xFF_FFFF
    }
}

/// What `gpgv --status-fd` reports, read into an ``OpenPGPOutcome``.
///
/// Only `GOODSIG` with `VALIDSIG`, exactly one signature, and none of
/// `BADSIG`, `EXPSIG`, `EXPKEYSIG`, `REVKEYSIG`, `ERRSIG` is good: `gpgv`
/// exits 0 for a signature by a revoked key, so its status alone is not
/// enough (GPGME, which skopeo uses, refuses those too).
public enum GPGVStatus {
    /// Reads the status lines of one run.
    ///
    /// - Parameters:
    ///   - status: everything `gpgv` wrote to its status descriptor.
    ///   - exitStatus: how `gpgv` exited.
    ///   - content: the literal data it wrote; returned only for a good signature.
    public static func outcome(status: String, exitStatus: Int32, content: [UInt8]) -> OpenPGPOutcome {
        var lines: [(keyword: String, fields: [String])] = []
        for line in status.split(separator: "\n") where line.hasPrefix("[GNUPG:] ") {
            let words = line.dropFirst("[GNUPG:] ".count).split(separator: " ").map(String.init)
            if let keyword = words.first { lines.append((keyword, Array(words.dropFirst()))) }
        }
        func fields(_ keyword: String) -> [String]? { lines.first { $0.keyword == keyword }?.fields }
        let signatures = lines.filter { $0.keyword == "NEWSIG" }.count
        if signatures == 0 {
            if let reason = fields("NODATA") { return .notSigned("no signature in the data (NODATA \(reason.first ?? ""))") }
            if fields("UNEXPECTED") != nil { return .notSigned("unexpected OpenPGP data, not a signed message") }
            return .notSigned("gpgv found no signature (exit status \(exitStatus))")
        }
        guard signatures == 1 else { return .multipleSignatures(signatures) }
        let valid = fields("VALIDSIG")
        let signingKey = valid?.first ?? ""
        let primaryKey = valid.flatMap { $0.count > 9 ? $0[9] : $0.first } ?? ""
        if let error = fields("ERRSIG") {
            let fingerprint = error.count > 6 && error[6] != "-" ? error[6] : nil
            if error.count > 5, error[5] == "9" { return .unknownKey(keyID: error.first ?? "", fingerprint: fingerprint) }
            return .failed("the signature cannot be checked (ERRSIG \(error.joined(separator: " ")))")
        }
        if let bad = fields("BADSIG") { return .badSignature(keyID: bad.first ?? "") }
        if fields("REVKEYSIG") != nil { return .revokedKey(primaryKey: primaryKey, signingKey: signingKey) }
        if fields("EXPKEYSIG") != nil { return .expiredKey(primaryKey: primaryKey) }
        if fields("EXPSIG") != nil { return .expiredSignature(primaryKey: primaryKey) }
        guard fields("GOODSIG") != nil, valid != nil, !signingKey.isEmpty else {
            return .failed("gpgv reported no valid signature (exit status \(exitStatus))")
        }
        guard exitStatus == 0 else { return .failed("gpgv exited with status \(exitStatus) after a good signature") }
        return .good(content: content, signingKey: signingKey, primaryKey: primaryKey)
    }
}

extension Substring {
    func trimmingTrailingWhitespace() -> Substring {
        var result = self
        while let last = result.last, last == " " || last == "\t" || last == "\r" { result.removeLast() }
        return result
    }
}
