import Foundation
import ImageReference
import NixExpression
import Testing

/// SHA-256 digests and their forms as Nix prints them. The base-32 and SRI
/// columns were produced by `nix-hash --type sha256 --to-base32 <hex>` and
/// `nix hash to-sri --type sha256 <hex>` (Nix 2.8); `nixAgrees` re-checks
/// them against the installed Nix when there is one.
struct HashVector: Sendable, CustomTestStringConvertible {
    var hex: String
    var base32: String
    var sri: String
    var testDescription: String { String(hex.prefix(12)) }

    static let all: [HashVector] = [
        // The seed manifest's config and layer (hocker's golden test).
        HashVector(
            hex: "054abe38b1e6f863befa4258cbfaf127b1cc9440d2e2e349b15d22e676b591e7",
            base32: "1rwinmvfc8jxn54y7qnj82acrc97y7xcnn22zaz67y76n4wbwjh5",
            sri: "sha256-BUq+OLHm+GO++kJYy/rxJ7HMlEDS4uNJsV0i5na1kec="),
        HashVector(
            hex: "cd0a524342efac6edff500c17e625735bbe479c926439b263bbe3c8518a0849c",
            base32: "1744l0c8ag5y7ck9nhr6r5wy9frmaxi7xh80ypgnxb7g891m42nd",
            sri: "sha256-zQpSQ0LvrG7f9QDBfmJXNbvkeckmQ5smO748hRighJw="),
        // hocker's own base-16 to base-32 test vector.
        HashVector(
            hex: "5c90d4a2d1a8dfffd05ff2dd659923f0ca2d843b5e45d030e17abbcd06a11b5b",
            base32: "0nqvl43cvfvsw4qd0iay7f22vjph4fcnbpgjbz8gzpx8s6id942w",
            sri: "sha256-XJDUotGo3//QX/LdZZkj8MothDteRdAw4Xq7zQahG1s="),
        // SHA-256 of the empty string.
        HashVector(
            hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            base32: "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            sri: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        // Edges: all zero bits, all one bits, and the first and last byte set
        // (shows the reversed order: byte 0 ends up in the last character).
        HashVector(
            hex: String(repeating: "0", count: 64), base32: String(repeating: "0", count: 52),
            sri: "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        HashVector(
            hex: String(repeating: "f", count: 64), base32: "1" + String(repeating: "z", count: 51),
            sri: "sha256-//////////////////////////////////////////8="),
        HashVector(
            hex: "01" + String(repeating: "0", count: 60) + "80", base32: "1" + String(repeating: "0", count: 50) + "1",
            sri: "sha256-AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA="),
    ]

    var digest: Digest { get throws { try Digest(algorithm: .sha256, hex: hex) } }
}

@Suite struct NixHashTests {
    @Test(arguments: HashVector.all)
    func base32(_ vector: HashVector) throws {
        #expect(try NixHash.base32(vector.digest) == vector.base32)
    }

    @Test(arguments: HashVector.all)
    func sri(_ vector: HashVector) throws {
        #expect(try NixHash.sri(vector.digest) == vector.sri)
    }

    @Test(arguments: HashVector.all)
    func base32RoundTrips(_ vector: HashVector) throws {
        #expect(NixHash.bytes(fromBase32: vector.base32, byteCount: 32) == (try vector.digest.bytes))
    }

    @Test(arguments: [
        ("", 32), ("0", 32), (String(repeating: "e", count: 52), 32),  // 'e' is not in the alphabet
        ("2" + String(repeating: "0", count: 51), 32),  // the top character overflows 256 bits
    ])
    func invalidBase32IsRejected(_ text: String, _ count: Int) {
        #expect(NixHash.bytes(fromBase32: text, byteCount: count) == nil)
    }

    /// Lengths Nix's encoder handles besides 32 bytes (md5, sha1, sha512).
    @Test(arguments: [16, 20, 64])
    func otherLengthsRoundTrip(_ count: Int) {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let text = NixHash.base32(bytes)
        #expect(text.count == (count * 8 - 1) / 5 + 1)
        #expect(NixHash.bytes(fromBase32: text, byteCount: count) == bytes)
    }

    @Test func sha512IsRefused() throws {
        let digest = try Digest(algorithm: .sha512, hex: String(repeating: "a", count: 128))
        #expect(throws: NixGenerationError.unsupportedDigest(digest)) { try NixHash.base32(digest) }
    }

    /// The table, and some pseudo-random digests, against the installed `nix-hash`.
    @Test(.enabled(if: NixTool.available("nix-hash") || NixTool.required, NixTool.missingComment("nix-hash")))
    func nixAgrees() async throws {
        var hexes = HashVector.all.map(\.hex)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<8 {
            var hex = ""
            for _ in 0..<4 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                hex += String(format: "%016llx", state)
            }
            hexes.append(hex)
        }
        for hex in hexes {
            let output = try await NixTool.run("nix-hash", ["--type", "sha256", "--to-base32", hex])
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == (try NixHash.base32(Digest(algorithm: .sha256, hex: hex))), "\(hex)")
        }
    }
}

/// The hash forms nix/ passes to the builder, read back as the digest they stand for.
@Suite("Nix hashes as digests")
struct NixHashDigestTests {
    static let digest = try! Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))

    @Test(arguments: [
        (try! NixHash.sri(digest), true),
        (try! NixHash.base32(digest), true),
        (String(repeating: "ab", count: 32), true),
        ("sha256:" + String(repeating: "AB", count: 32), true),
        ("sha256-AAAA", false),
        ("md5-xyz", false),
        ("", false),
    ])
    func readsEveryForm(_ text: String, _ valid: Bool) {
        #expect((NixHash.digest(fromHash: text) == Self.digest) == valid, "\(text)")
    }
}
