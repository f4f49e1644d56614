/// Text a registry chose — tags, platforms, labels, error bodies, URLs —
/// made safe for a terminal or a line-oriented output: every control
/// character is shown as a visible escape (`\x1b`, `\u009b`), so it can
/// neither retitle nor clear the terminal, colour what follows, move the
/// cursor over earlier lines, nor reorder text with bidirectional controls.
/// JSON documents escape the same characters as `\uXXXX` (``JSONDocument/bytes(of:)``).
public enum TerminalText {
    /// `text` on one line: newlines and tabs escaped too. For a value
    /// printed within a line (a tag, a label, a platform).
    public static func field(_ text: String) -> String {
        escaping(text, keepLines: false)
    }

    /// `text` with newlines and tabs kept, everything else escaped: for a
    /// message of several lines.
    public static func message(_ text: String) -> String {
        escaping(text, keepLines: true)
    }

    /// A tag as a listing shows it: escaped, and flagged when it is not a
    /// tag by the distribution grammar (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`),
    /// rather than hidden.
    public static func tag(_ tag: String) -> String {
        (try? ImageReference.validateTag(tag)) == nil ? "\(field(tag))  (not a valid tag)" : tag
    }

    private static func escaping(_ text: String, keepLines: Bool) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepLines: keepLines) }) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepLines: keepLines) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar.value {
            case 0x0A: result += "\\n"
            case 0x09: result += "\\t"
            case 0x0D: result += "\\r"
            case ..<0x80: result += "\\x" + hex(scalar.value, digits: 2)
            default: result += "\\u" + hex(scalar.value, digits: 4)
            }
        }
        return result
    }

    /// C0 (but newline and tab when lines are kept), DEL, C1, the line and
    /// paragraph separators, and the bidirectional embedding, override and
    /// isolate controls.
    static func needsEscape(_ scalar: Unicode.Scalar, keepLines: Bool) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: !keepLines
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
