#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOHTTP1

/// A registry's pull quota as Docker Hub announces it on every manifest
/// answer: `ratelimit-limit: 100;w=21600` and `ratelimit-remaining:
/// 76;w=21600` (pulls, and the window in seconds), the IETF RateLimit
/// header draft's first form.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    /// Pulls allowed in one window.
    public var limit: Int
    /// Pulls left in this window; nil when only the limit was sent.
    public var remaining: Int?
    /// The window's length in seconds, when named.
    public var window: Int?

    public init(limit: Int, remaining: Int?, window: Int?) {
        self.limit = limit
        self.remaining = remaining
        self.window = window
    }

    /// The quota `headers` announce; nil when they name none.
    public init?(_ headers: HTTPHeaders) {
        guard let limit = headers.first(name: "ratelimit-limit").flatMap(Self.parse) else { return nil }
        let remaining = headers.first(name: "ratelimit-remaining").flatMap(Self.parse)
        self.init(limit: limit.count, remaining: remaining?.count, window: limit.window ?? remaining?.window)
    }

    /// `100;w=21600` → (100, 21600); `100` → (100, nil).
    static func parse(_ value: String) -> (count: Int, window: Int?)? {
        let parts: [String] = value.split(separator: ";").map { $0.trimmingWhitespace() }
        guard let first = parts.first, let count = Int(first), count >= 0 else { return nil }
        var window: Int?
        for part in parts.dropFirst() where part.lowercased().hasPrefix("w=") {
            if let seconds = Int(part.dropFirst(2)), seconds > 0 { window = seconds }
        }
        return (count, window)
    }

    /// `rate limit: 0 of 100 pulls left in 6 h`.
    public var description: String {
        var text = "rate limit: "
        if let remaining { text += "\(remaining) of \(limit) pulls left" } else { text += "\(limit) pulls" }
        if let window { text += " in " + Self.format(seconds: window) }
        return text
    }

    /// A window in the largest unit that divides it: `6 h`, `30 min`, `90 s`.
    static func format(seconds: Int) -> String {
        if seconds % 3600 == 0 { return "\(seconds / 3600) h" }
        if seconds % 60 == 0 { return "\(seconds / 60) min" }
        return "\(seconds) s"
    }
}
