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

    /// `json` with the characters named at ``bytes(of:)`` escaped. Every one of
    /// them is outside printable ASCII, so it can only occur inside a string,
    /// and its UTF-8 lead byte (0x7F, 0xC2, 0xD8, 0xE2) is never a continuation byte.
    static func escapingTerminalControls(_ json: Data) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(json.count)
        let bytes = [UInt8](json)
        var index = 0
        func escape(_ scalar: UInt32) {
            let hex = String(scalar, radix: 16, uppercase: true)
            out += Array("\\u\(String(repeating: "0", count: 4 - hex.count))\(hex)".utf8)
        }
        while index < bytes.count {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0
            let third = index + 2 < bytes.count ? bytes[index + 2] : 0
            if byte == 0x7F {
                escape(0x7F); index += 1
            } else if byte == 0xC2, (0x80...0x9F).contains(next) {
                escape(UInt32(next)); index += 2
            } else if byte == 0xD8, next == 0x9C {
                escape(0x061C); index += 2
            } else if byte == 0xE2, let scalar = separatorOrMark(next, third) {
                escape(scalar); index += 3
            } else {
                out.append(byte); index += 1
            }
        }
        return out
    }

    /// U+200E/F, U+2028–202E and U+2066–2069 from the two bytes after 0xE2.
    private static func separatorOrMark(_ second: UInt8, _ third: UInt8) -> UInt32? {
        let scalar = 0x2000 | (UInt32(second & 0x3F) << 6) | UInt32(third & 0x3F)
        guard second & 0xC0 == 0x80, third & 0xC0 == 0x80 else { return nil }
        switch scalar {
        case 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return scalar
        default: return nil
        }
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
