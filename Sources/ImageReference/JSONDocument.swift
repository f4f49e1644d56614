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

/// An optional field that a document writes as `null` when it has no
/// value, rather than leaving its key out: every field of hocker's
/// documents is always present, so a document's shape does not depend on
/// its values (and a reader, or a diff, sees what is unset). A missing key
/// reads as nil, so documents written before a field existed still read.
@propertyWrapper
public struct ExplicitNull<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// An ``ExplicitNull`` field whose key is missing is nil.
    public func decode<Value>(_ type: ExplicitNull<Value>.Type, forKey key: Key) throws -> ExplicitNull<Value> {
        try decodeIfPresent(type, forKey: key) ?? ExplicitNull(wrappedValue: nil)
    }
}
