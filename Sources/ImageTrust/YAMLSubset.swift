/// The part of YAML that registries.d(5) files are written in: nested
/// block mappings of scalars, with comments.
///
/// `KEY: VALUE` lines indented with spaces; plain, 'single-quoted' and
/// "double-quoted" scalars; an empty value (null, or the start of a nested
/// mapping), `~`, `null` and `{}`; `#` comments; one leading `---`.
/// Everything else YAML has (sequences, anchors, tags, block scalars, flow
/// collections with content, scalars over several lines) is refused with
/// the line it is on, never guessed at.
///
/// A full YAML library would do, but the ones at hand bring Foundation's
/// internationalization (ICU) into a static binary, tens of megabytes for
/// a few lines of configuration.
enum YAMLSubset {
    /// A parsed node.
    indirect enum Node: Sendable, Equatable {
        case null
        /// A scalar and whether it was quoted (a quoted `true` is a string, not a boolean).
        case scalar(String, quoted: Bool)
        /// Entries in file order; `line` is where each key is (1-based).
        case mapping([Entry])
    }

    struct Entry: Sendable, Equatable {
        var key: String
        var value: Node
        var line: Int
    }

    struct SyntaxError: Error, Sendable, Equatable {
        var line: Int
        var reason: String
    }

    /// Parses a document whose top is a mapping (or empty: null).
    static func parse(_ text: String) throws(SyntaxError) -> Node {
        var lines: [Line] = []
        var sawContent = false
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let content = stripComment(raw.hasSuffix("\r") ? raw.dropLast() : raw)
            let trimmed = content.drop { $0 == " " }
            if trimmed.isEmpty { continue }
            if trimmed.first == "\t" || content.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                throw SyntaxError(line: number, reason: "tabs cannot indent YAML")
            }
            if !sawContent, content == "---" {
                sawContent = true
                continue
            }
            sawContent = true
            lines.append(Line(number: number, indent: content.count - trimmed.count, text: String(trimmed)))
        }
        var index = 0
        guard !lines.isEmpty else { return .null }
        guard lines[0].indent == 0 else { throw SyntaxError(line: lines[0].number, reason: "the document's first key must not be indented") }
        let node = try mapping(lines, &index, indent: 0)
        if index < lines.count { throw SyntaxError(line: lines[index].number, reason: "unexpected indentation") }
        return node
    }

    private struct Line {
        var number: Int
        var indent: Int
        var text: String
    }

    /// Entries at exactly `indent` from `index` on, with their nested mappings.
    private static func mapping(_ lines: [Line], _ index: inout Int, indent: Int) throws(SyntaxError) -> Node {
        var entries: [Entry] = []
        var keys: Set<String> = []
        while index < lines.count, lines[index].indent == indent {
            let line = lines[index]
            let (key, rest) = try splitEntry(line)
            guard keys.insert(key).inserted else { throw SyntaxError(line: line.number, reason: "the key \"\(key)\" is already defined in this mapping") }
            index += 1
            var value = try scalar(rest, line: line.number)
            if rest.isEmpty, index < lines.count, lines[index].indent > indent {
                value = try mapping(lines, &index, indent: lines[index].indent)
            } else if index < lines.count, lines[index].indent > indent {
                throw SyntaxError(line: lines[index].number, reason: "a value continued over several lines is not supported here; write it on one line")
            }
            entries.append(Entry(key: key, value: value, line: line.number))
        }
        return .mapping(entries)
    }

    /// `KEY: VALUE` → key and the text after `:`, trimmed.
    private static func splitEntry(_ line: Line) throws(SyntaxError) -> (String, String) {
        let text = line.text
        if let first = text.first, "?[{&*!|>%@`".contains(first) || (first == "-" && (text.count == 1 || text.dropFirst().first == " ")) {
            throw SyntaxError(line: line.number, reason: "only KEY: VALUE mappings are supported here, not \"\(first)\"")
        }
        var key: String
        var rest: Substring
        if text.first == "\"" || text.first == "'" {
            let (parsed, after) = try quotedScalar(Substring(text), line: line.number)
            guard after.first == ":" else { throw SyntaxError(line: line.number, reason: "expected ':' after the key") }
            key = parsed
            rest = after.dropFirst()
        } else {
            var separator: String.Index?
            var position = text.startIndex
            while position < text.endIndex {
                let next = text.index(after: position)
                if text[position] == ":", next == text.endIndex || text[next] == " " {
                    separator = position
                    break
                }
                position = next
            }
            guard let separator else { throw SyntaxError(line: line.number, reason: "expected KEY: VALUE") }
            key = String(text[..<separator])
            while key.hasSuffix(" ") { key.removeLast() }
            rest = text[text.index(after: separator)...]
        }
        guard rest.isEmpty || rest.first == " " else { throw SyntaxError(line: line.number, reason: "expected a space after ':'") }
        return (key, String(rest.drop { $0 == " " }))
    }

    /// The value after `KEY:`.
    private static func scalar(_ text: String, line: Int) throws(SyntaxError) -> Node {
        if text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL" { return .null }
        if text == "{}" { return .mapping([]) }
        if let first = text.first, "\"'".contains(first) {
            let (value, after) = try quotedScalar(Substring(text), line: line)
            guard after.isEmpty else { throw SyntaxError(line: line, reason: "unexpected text after a quoted value") }
            return .scalar(value, quoted: true)
        }
        if let first = text.first, "[{&*!|>%@`".contains(first) {
            throw SyntaxError(line: line, reason: "only plain and quoted scalar values are supported here, not \"\(first)\"")
        }
        var value = text
        while value.hasSuffix(" ") { value.removeLast() }
        return .scalar(value, quoted: false)
    }

    /// A quoted scalar at the start of `text`, and what follows it (trailing spaces dropped).
    private static func quotedScalar(_ text: Substring, line: Int) throws(SyntaxError) -> (String, Substring) {
        let quote = text.first!
        var result = ""
        var position = text.index(after: text.startIndex)
        while position < text.endIndex {
            let character = text[position]
            position = text.index(after: position)
            if character == quote {
                if quote == "'", position < text.endIndex, text[position] == "'" {
                    result.append("'")
                    position = text.index(after: position)
                    continue
                }
                return (result, text[position...].drop { $0 == " " })
            }
            if quote == "\"", character == "\\" {
                guard position < text.endIndex else { break }
                let (scalar, next) = try escape(text, at: position, line: line)
                result.unicodeScalars.append(scalar)
                position = next
                continue
            }
            result.append(character)
        }
        throw SyntaxError(line: line, reason: "a quoted value is not closed on its line")
    }

    private static func escape(_ text: Substring, at position: String.Index, line: Int) throws(SyntaxError) -> (Unicode.Scalar, String.Index) {
        let simple: [Character: Unicode.Scalar] = [
            "0": "\0", "a": "\u{07}", "b": "\u{08}", "t": "\t", "n": "\n", "v": "\u{0B}", "f": "\u{0C}", "r": "\r", "e": "\u{1B}",
            " ": " ", "\"": "\"", "/": "/", "\\": "\\",
        ]
        let code = text[position]
        let next = text.index(after: position)
        if let scalar = simple[code] { return (scalar, next) }
        let width = code == "x" ? 2 : code == "u" ? 4 : code == "U" ? 8 : 0
        guard width > 0, let end = text.index(next, offsetBy: width, limitedBy: text.endIndex),
            let value = UInt32(text[next..<end], radix: 16), let scalar = Unicode.Scalar(value)
        else { throw SyntaxError(line: line, reason: "an invalid escape in a double-quoted value") }
        return (scalar, end)
    }

    /// The line without its comment: `#` at the start or after a space, outside quotes.
    private static func stripComment(_ line: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        var position = line.startIndex
        while position < line.endIndex {
            let character = line[position]
            if let open = quote {
                if character == open {
                    quote = nil
                } else if open == "\"", character == "\\" {
                    position = line.index(after: position)
                    if position == line.endIndex { break }
                }
            } else if character == "#", previous == " " || previous == "\t" {
                return line[..<position].trimmingSuffixSpaces()
            } else if character == "\"" || character == "'", previous == " " || previous == ":" {
                quote = character
            }
            previous = character
            position = line.index(after: position)
        }
        return line.trimmingSuffixSpaces()
    }
}

extension Substring {
    fileprivate func trimmingSuffixSpaces() -> Substring {
        var result = self
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
