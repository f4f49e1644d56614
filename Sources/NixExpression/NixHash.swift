#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec

/// The hash encodings Nix reads: its own base-32 (what `nix-hash
/// --to-base32` prints, hocker's `sha256 = "..."`) and SRI (`sha256-<base64>`).
///
/// A registry digest *is* the SHA-256 of the blob, so a fixed-output
/// derivation's hash follows from the manifest alone, with no download.
public enum NixHash {
    /// Nix's base-32 alphabet: digits and lowercase letters without e, o, u, t.
    public static let base32Alphabet: [UInt8] = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)

    /// Encodes bytes as Nix's base-32: 5 bits per character, taken from the
    /// end of the hash (Nix reads the bytes as one little-endian number and
    /// prints it most significant digit first).
    public static func base32(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "" }
        let length = (bytes.count * 8 - 1) / 5 + 1
        var output: [UInt8] = []
        output.reserveCapacity(length)
        for n in stride(from: length - 1, through: 0, by: -1) {
            let bit = n * 5
            let i = bit / 8
            let j = bit % 8
            var value = Int(bytes[i]) >> j
            if i + 1 < bytes.count { value |= Int(bytes[i + 1]) << (8 - j) }
            output.append(base32Alphabet[value & 0x1f])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes Nix's base-32 back to `byteCount` bytes; nil when the text is
    /// not valid for that length.
    public static func bytes(fromBase32 text: String, byteCount: Int) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard byteCount > 0, characters.count == (byteCount * 8 - 1) / 5 + 1 else { return nil }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for (position, character) in characters.enumerated() {
            guard let digit = base32Alphabet.firstIndex(of: character) else { return nil }
            let n = characters.count - 1 - position
            let bit = n * 5
            let i = bit / 8
            let j = bit % 8
            bytes[i] |= UInt8(truncatingIfNeeded: digit << j)
            let carry = digit >> (8 - j)
            if i + 1 < byteCount {
                bytes[i + 1] |= UInt8(truncatingIfNeeded: carry)
            } else if carry != 0 {
                return nil
            }
        }
        return bytes
    }

    /// A SHA-256 digest in Nix's base-32, 52 characters.
    public static func base32(_ digest: Digest) throws(NixGenerationError) -> String {
        try base32(sha256Bytes(digest))
    }

    /// A SHA-256 digest in SRI form, `sha256-<base64>`.
    public static func sri(_ digest: Digest) throws(NixGenerationError) -> String {
        guard digest.algorithm == .sha256 else { throw .unsupportedDigest(digest) }
        return digest.subresourceIntegrity
    }

    /// The SHA-256 digest a Nix hash stands for: SRI (`sha256-<base64>`),
    /// Nix base-32 (52 characters) or base-16 (64 hex digits), with or
    /// without a `sha256:` prefix; nil for anything else.
    public static func digest(fromHash text: String) -> Digest? {
        var body = Substring(text)
        if body.hasPrefix("sha256-") {
            guard let bytes = Data(base64Encoded: String(body.dropFirst("sha256-".count))), bytes.count == 32 else { return nil }
            return Digest(algorithm: .sha256, hashBytes: bytes)
        }
        if body.hasPrefix("sha256:") { body = body.dropFirst("sha256:".count) }
        if body.count == 64 { return try? Digest(algorithm: .sha256, hex: body.lowercased()) }
        if body.count == 52, let bytes = self.bytes(fromBase32: String(body), byteCount: 32) { return Digest(algorithm: .sha256, hashBytes: bytes) }
        return nil
    }

    private static func sha256Bytes(_ digest: Digest) throws(NixGenerationError) -> [UInt8] {
        guard digest.algorithm == .sha256 else { throw .unsupportedDigest(digest) }
        return digest.bytes
    }
}
