import struct Crypto.SHA256
import struct Crypto.SHA512
import ImageReference

/// Hashes blob bytes with the algorithm of the digest they must match
/// (SHA-256 for nearly every registry; SHA-512 where a digest asks for it).
/// Exactly one of the two hashers is set; updates mutate it in place.
struct BlobHasher {
    private var sha256: SHA256?
    private var sha512: SHA512?

    init(_ algorithm: Digest.Algorithm) {
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha512: sha512 = SHA512()
        }
    }

    mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        if sha256 != nil {
            sha256?.update(bufferPointer: bufferPointer)
        } else {
            sha512?.update(bufferPointer: bufferPointer)
        }
    }

    /// The digest of everything hashed.
    func finalize() -> Digest {
        if let sha256 { return Digest.sha256(bytes: sha256.finalize()) }
        // `Digest.sha256(bytes:)` only hex-encodes; 64 bytes give the 128 hex digits of a sha512 digest.
        let hex = Digest.sha256(bytes: sha512?.finalize() ?? SHA512().finalize()).hex
        guard let digest = try? Digest(algorithm: .sha512, hex: hex) else { preconditionFailure("a SHA-512 hash is 128 hex digits") }
        return digest
    }
}
