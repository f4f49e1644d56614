#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How hocker writes JSON, every document the same way: keys sorted (so
/// the same value gives the same bytes, and a diff shows only what
/// changed), slashes unescaped.
public enum JSONDocument {
    /// A document a person reads or a diff shows: pretty-printed, ending with a newline.
    public static func bytes(of value: some Encodable) throws -> Data {
        try encoder(pretty: true).encode(value) + Data("\n".utf8)
    }

    /// A document inside an archive or a digest's input: compact, no newline.
    public static func compactBytes(of value: some Encodable) throws -> Data {
        try encoder(pretty: false).encode(value)
    }

    private static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
