#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import struct Crypto.SHA256
import struct Crypto.SHA512
import ImageReference

/// Hashes bytes with the algorithm of the digest they must match (SHA-256
/// for nearly every registry; SHA-512 where a digest asks for it), so a
/// blob is checked while it streams past. Exactly one of the two hashers is
/// set; updates mutate it in place.
public struct DigestHasher: Sendable {
    private var sha256: SHA256?
    private var sha512: SHA512?

    public init(_ algorithm: Digest.Algorithm) {
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha512: sha512 = SHA512()
        }
    }

    /// Adds `bufferPointer`'s bytes to the hash.
    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        if sha256 != nil {
            sha256?.update(bufferPointer: bufferPointer)
        } else {
            sha512?.update(bufferPointer: bufferPointer)
        }
    }

    /// The digest of everything hashed.
    public func finalize() -> Digest {
        if let sha256 { return Digest(algorithm: .sha256, hashBytes: sha256.finalize()) }
        return Digest(algorithm: .sha512, hashBytes: sha512?.finalize() ?? SHA512().finalize())
    }

    /// The digest of `bytes` with `algorithm`.
    public static func digest(of bytes: some ContiguousBytes, algorithm: Digest.Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }
}

extension Digest {
    /// The digest as a Subresource Integrity hash, `sha256-<base64>`: what
    /// Nix takes as a fixed-output hash.
    public var subresourceIntegrity: String {
        "\(algorithm.rawValue)-" + Data(bytes).base64EncodedString()
    }
}
