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
    ///
    /// Characters a terminal acts on or that reorder a line (DEL, C1 controls,
    /// line and paragraph separators, bidirectional marks and overrides) are
    /// written as `\uXXXX` escapes: the encoder escapes only C0 controls, and a
    /// registry's text printed raw could otherwise rewrite what a person sees.
    public static func bytes(of value: some Encodable) throws -> Data {
        Data(escapingTerminalControls(try encoder(pretty: true).encode(value))) + Data("\n".utf8)
    }

    /// A document inside an archive or a digest's input: compact, no newline.
    public static func compactBytes(of value: some Encodable) throws -> Data {
        try encoder(pretty: false).encode(value)
    }

    /// `json` with the characters named at ``bytes(of:)`` escaped: those
    /// ``TerminalText`` escapes, as JSON `\uXXXX`. Every one the encoder
    /// leaves raw is outside printable ASCII, so it can only occur inside a
    /// string; the newlines of pretty-printing are kept.
    static func escapingTerminalControls(_ json: Data) -> [UInt8] {
        let text = String(decoding: json, as: UTF8.self)
        guard text.unicodeScalars.contains(where: { TerminalText.needsEscape($0, keepLines: true) }) else { return [UInt8](json) }
        var out = ""
        out.reserveCapacity(json.count + 16)
        for scalar in text.unicodeScalars {
            guard TerminalText.needsEscape(scalar, keepLines: true) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16, uppercase: true)
            out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
        return Array(out.utf8)
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
