/// A content digest such as `sha256:2c26b46b...`, validated on construction.
///
/// Only algorithms a registry can be asked for are accepted: `sha256` with 64
/// lowercase hex characters and `sha512` with 128. Anything else — upper case,
/// short hex, path separators — is refused, so a digest can be used safely in
/// URLs and file names.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256
        case sha512

        /// The length of the hex encoding of a digest of this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    public let algorithm: Algorithm
    /// The lowercase hex encoding, without the algorithm prefix.
    public let hex: String

    /// Parses `algorithm:hex`. With `allowBareHex`, a bare 64-character hex
    /// string is taken as SHA-256 (hocker's `--layer` accepted both).
    public init(parsing text: String, allowBareHex: Bool = false) throws(ReferenceError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 1 {
            guard allowBareHex else { throw .invalidDigest(text) }
            try self.init(algorithm: .sha256, hex: String(parts[0]), original: text)
            return
        }
        guard let algorithm = Algorithm(rawValue: String(parts[0])) else {
            throw .invalidDigest(text)
        }
        try self.init(algorithm: algorithm, hex: String(parts[1]), original: text)
    }

    /// Builds a digest from an algorithm and its hex encoding.
    public init(algorithm: Algorithm, hex: String) throws(ReferenceError) {
        try self.init(algorithm: algorithm, hex: hex, original: "\(algorithm.rawValue):\(hex)")
    }

    private init(algorithm: Algorithm, hex: String, original: String) throws(ReferenceError) {
        guard hex.utf8.count == algorithm.hexLength, hex.utf8.allSatisfy(Self.isLowerHex) else {
            throw .invalidDigest(original)
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Makes a digest from the raw bytes of a hash computed with `algorithm`
    /// (32 bytes for SHA-256, 64 for SHA-512).
    public init(algorithm: Algorithm, hashBytes bytes: some Sequence<UInt8>) {
        var hex = ""
        hex.reserveCapacity(algorithm.hexLength)
        for byte in bytes {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Makes a SHA-256 digest from raw digest bytes.
    public static func sha256(bytes: some Sequence<UInt8>) -> Digest {
        Digest(algorithm: .sha256, hashBytes: bytes)
    }

    /// The raw digest bytes.
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for char in hex.utf8 {
            let value = char <= 0x39 ? char - 0x30 : char - 0x61 + 10
            if let h = high {
                result.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return result
    }

    /// `algorithm:hex`, the form registries use.
    public var description: String { "\(algorithm.rawValue):\(hex)" }

    /// The first 12 hex characters, for progress lines.
    public var short: String { String(hex.prefix(12)) }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    private static let hexDigits: [Character] = Array("0123456789abcdef")

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x61...0x66).contains(c)
    }
}

extension Digest: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Digest {
    /// `sha256:` and the first 12 hex characters, then `…`: a digest in a line a person reads.
    public var abbreviated: String { "\(algorithm.rawValue):\(short)…" }
}
