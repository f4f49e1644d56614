/// A TOML value as registries.conf files use them.
public indirect enum TOMLValue: Sendable, Hashable {
    case string(String)
    case bool(Bool)
    case integer(Int)
    case array([TOMLValue])
    case table(TOMLTable)
    /// `[[name]]`: an array of tables.
    case tables([TOMLTable])

    /// The value's kind in the words of an error ("a string", "a table").
    public var kind: String {
        switch self {
        case .string: "a string"
        case .bool: "true or false"
        case .integer: "a number"
        case .array: "an array"
        case .table: "a table"
        case .tables: "an array of tables"
        }
    }
}

/// A TOML table: its keys in the order they were written, and the line
/// each was written on, so that errors can name it.
public struct TOMLTable: Sendable, Hashable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: TOMLValue] = [:]
    /// 1-based line of each key (of the header for a table).
    public private(set) var lines: [String: Int] = [:]
    /// The line of the table's own header (`[name]`, `[[name]]`); 0 for the root.
    public var line = 0

    public init(line: Int = 0) { self.line = line }

    public subscript(key: String) -> TOMLValue? { values[key] }

    mutating func set(_ key: String, _ value: TOMLValue, line: Int) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
        lines[key] = line
    }
}

/// A registries.conf (or any file in TOML) that does not parse: the line,
/// what is wrong, and the file it is in once the reading layer knows it.
public struct TOMLSyntaxError: Error, Sendable, Hashable {
    /// 1-based.
    public var line: Int
    public var reason: String
}

/// Parses the part of TOML that containers-registries.conf(5) files use:
/// `[table]` and `[[array.of.tables]]` headers (dotted, quoted parts too),
/// `key = value` with bare, quoted and dotted keys, basic and literal
/// strings, booleans, integers, arrays (over several lines, with comments
/// and a trailing comma) and inline tables, and `#` comments. Dates,
/// floats and multi-line strings are refused with a message saying so: no
/// registries.conf setting takes one.
public enum TOMLSubset {
    public static func parse(_ text: String) throws(TOMLSyntaxError) -> TOMLTable {
        var parser = Parser(Array(text.unicodeScalars))
        return try parser.document()
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0
        var line = 1
        var root = TOMLTable()
        /// The path of the table `key = value` lines go into; for an array of
        /// tables, its last element.
        var current: [String] = []
        /// Tables defined by a header, so that `[a]` twice is refused.
        var defined: Set<[String]> = []

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var atEnd: Bool { index >= scalars.count }
        var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

        func fail(_ reason: String) -> TOMLSyntaxError { TOMLSyntaxError(line: line, reason: reason) }

        mutating func document() throws(TOMLSyntaxError) -> TOMLTable {
            while true {
                skipSpaceAndComments(newlines: true)
                guard let c = peek else { break }
                if c == "[" {
                    try header()
                } else {
                    let pair = try keyValue()
                    try endOfLine()
                    try insert(pair.value, at: current + pair.key, line: pair.line, header: false)
                }
            }
            return root
        }

        mutating func header() throws(TOMLSyntaxError) {
            let headerLine = line
            index += 1
            let isArray = peek == "["
            if isArray { index += 1 }
            skipSpace()
            let path = try dottedKey()
            skipSpace()
            guard peek == "]" else { throw fail("expected ']' to close the table header '\(path.joined(separator: "."))'") }
            index += 1
            if isArray {
                guard peek == "]" else { throw fail("expected ']]' to close the table header '\(path.joined(separator: "."))'") }
                index += 1
            }
            try endOfLine()
            if isArray {
                try appendTable(at: path, line: headerLine)
            } else {
                guard !defined.contains(path) else { throw fail("the table [\(path.joined(separator: "."))] is defined twice") }
                defined.insert(path)
                try insert(.table(TOMLTable(line: headerLine)), at: path, line: headerLine, header: true)
            }
            current = path
        }

        // MARK: The tree

        /// Puts `value` at `path`, making the tables on the way.
        mutating func insert(_ value: TOMLValue, at path: [String], line: Int, header: Bool) throws(TOMLSyntaxError) {
            root = try Self.inserting(value, at: path[...], into: root, line: line, header: header, full: path)
        }

        static func inserting(
            _ value: TOMLValue, at path: ArraySlice<String>, into table: TOMLTable, line: Int, header: Bool, full: [String]
        ) throws(TOMLSyntaxError) -> TOMLTable {
            var table = table
            let key = path.first!
            let name = full.joined(separator: ".")
            if path.count == 1 {
                if let existing = table[key] {
                    // `[a.b]` after `[a.b.c]` made `a.b` implicitly: the header only gives it a line.
                    if header, case .table(var made) = existing, case .table(let given) = value {
                        made.line = given.line
                        table.set(key, .table(made), line: line)
                        return table
                    }
                    throw TOMLSyntaxError(line: line, reason: "'\(name)' is set twice")
                }
                table.set(key, value, line: line)
                return table
            }
            switch table[key] {
            case nil:
                let inner = try inserting(value, at: path.dropFirst(), into: TOMLTable(line: line), line: line, header: header, full: full)
                table.set(key, .table(inner), line: line)
            case .table(let inner):
                table.set(key, .table(try inserting(value, at: path.dropFirst(), into: inner, line: line, header: header, full: full)), line: table.lines[key] ?? line)
            case .tables(var list):
                // Keys under an array of tables go into its last element.
                list[list.count - 1] = try inserting(value, at: path.dropFirst(), into: list[list.count - 1], line: line, header: header, full: full)
                table.set(key, .tables(list), line: table.lines[key] ?? line)
            case let other?:
                throw TOMLSyntaxError(line: line, reason: "'\(full.prefix(full.count - path.count + 1).joined(separator: "."))' is \(other.kind), not a table")
            }
            return table
        }

        mutating func appendTable(at path: [String], line: Int) throws(TOMLSyntaxError) {
            root = try Self.appending(at: path[...], into: root, line: line, full: path)
        }

        static func appending(at path: ArraySlice<String>, into table: TOMLTable, line: Int, full: [String]) throws(TOMLSyntaxError) -> TOMLTable {
            var table = table
            let key = path.first!
            if path.count == 1 {
                switch table[key] {
                case nil: table.set(key, .tables([TOMLTable(line: line)]), line: line)
                case .tables(var list):
                    list.append(TOMLTable(line: line))
                    table.set(key, .tables(list), line: table.lines[key] ?? line)
                case let other?:
                    throw TOMLSyntaxError(line: line, reason: "'\(full.joined(separator: "."))' is \(other.kind) already, not an array of tables")
                }
                return table
            }
            switch table[key] {
            case nil:
                table.set(key, .table(try appending(at: path.dropFirst(), into: TOMLTable(line: line), line: line, full: full)), line: line)
            case .table(let inner):
                table.set(key, .table(try appending(at: path.dropFirst(), into: inner, line: line, full: full)), line: table.lines[key] ?? line)
            case .tables(var list):
                // `[[registry.mirror]]` belongs to the last `[[registry]]`.
                list[list.count - 1] = try appending(at: path.dropFirst(), into: list[list.count - 1], line: line, full: full)
                table.set(key, .tables(list), line: table.lines[key] ?? line)
            case let other?:
                throw TOMLSyntaxError(line: line, reason: "'\(full.prefix(full.count - path.count + 1).joined(separator: "."))' is \(other.kind), not a table")
            }
            return table
        }

        // MARK: Lexing

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\t" { index += 1 }
        }

        /// Spaces, comments and (with `newlines`) line ends.
        mutating func skipSpaceAndComments(newlines: Bool) {
            while let c = peek {
                if c == " " || c == "\t" || c == "\r" {
                    index += 1
                } else if c == "#" {
                    while let d = peek, d != "\n" { index += 1 }
                } else if c == "\n" && newlines {
                    index += 1
                    line += 1
                } else {
                    return
                }
            }
        }

        /// After a value or header: nothing but a comment up to the line's end.
        mutating func endOfLine() throws(TOMLSyntaxError) {
            skipSpace()
            if peek == "#" { while let d = peek, d != "\n" { index += 1 } }
            if peek == "\r" { index += 1 }
            guard let c = peek else { return }
            guard c == "\n" else { throw fail("unexpected '\(c)' after the value; one key = value per line") }
            index += 1
            line += 1
        }

        /// `KEY = VALUE`, on a line of the document or in an inline table;
        /// the line it starts on, for errors.
        mutating func keyValue() throws(TOMLSyntaxError) -> (key: [String], line: Int, value: TOMLValue) {
            let keyLine = line
            let key = try dottedKey()
            skipSpace()
            guard peek == "=" else { throw fail("expected '=' after the key '\(key.joined(separator: "."))'") }
            index += 1
            skipSpace()
            return (key, keyLine, try value())
        }

        mutating func dottedKey() throws(TOMLSyntaxError) -> [String] {
            var parts = [try simpleKey()]
            skipSpace()
            while peek == "." {
                index += 1
                skipSpace()
                parts.append(try simpleKey())
                skipSpace()
            }
            return parts
        }

        mutating func simpleKey() throws(TOMLSyntaxError) -> String {
            switch peek {
            case "\"": return try basicString()
            case "'": return try literalString()
            default:
                var key = ""
                while let c = peek, Self.isBareKeyCharacter(c) {
                    key.unicodeScalars.append(c)
                    index += 1
                }
                guard !key.isEmpty else {
                    throw fail(peek.map { "expected a key, found '\($0)'" } ?? "expected a key at the end of the file")
                }
                return key
            }
        }

        static func isBareKeyCharacter(_ c: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
        }

        mutating func value() throws(TOMLSyntaxError) -> TOMLValue {
            guard let c = peek, c != "\n", c != "#" else { throw fail("a key has no value after '='") }
            switch c {
            case "\"":
                if starts(with: "\"\"\"") { throw fail("multi-line strings (\"\"\") are not supported here; write the value on one line") }
                return .string(try basicString())
            case "'":
                if starts(with: "'''") { throw fail("multi-line strings (''') are not supported here; write the value on one line") }
                return .string(try literalString())
            case "[": return try array()
            case "{": return try inlineTable()
            default:
                var word = ""
                while let d = peek, Self.isBareKeyCharacter(d) || d == "+" || d == "." || d == ":" {
                    word.unicodeScalars.append(d)
                    index += 1
                }
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                if let number = Int(String(word.filter { $0 != "_" })) { return .integer(number) }
                if word.isEmpty { throw fail("expected a value, found '\(c)'") }
                if word == "True" || word == "False" || word == "yes" || word == "no" {
                    throw fail("'\(word)' is not a TOML value; write true or false (lowercase, unquoted)")
                }
                throw fail("'\(word)' is not a value this file takes; quote strings: \"\(word)\"")
            }
        }

        func starts(with text: String) -> Bool {
            let wanted = Array(text.unicodeScalars)
            return index + wanted.count <= scalars.count && Array(scalars[index..<index + wanted.count]) == wanted
        }

        mutating func basicString() throws(TOMLSyntaxError) -> String {
            index += 1
            var text = ""
            while true {
                guard let c = peek, c != "\n" else { throw fail("a string is not closed with '\"' on its line") }
                index += 1
                if c == "\"" { return text }
                guard c == "\\" else {
                    text.unicodeScalars.append(c)
                    continue
                }
                guard let e = peek else { throw fail("a string ends in '\\'") }
                index += 1
                switch e {
                case "\"": text += "\""
                case "\\": text += "\\"
                case "n": text += "\n"
                case "t": text += "\t"
                case "r": text += "\r"
                case "b": text += "\u{8}"
                case "f": text += "\u{c}"
                case "u", "U":
                    let count = e == "u" ? 4 : 8
                    guard index + count <= scalars.count,
                          let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + count])), radix: 16),
                          let scalar = Unicode.Scalar(code)
                    else { throw fail("'\\\(e)' takes \(count) hex digits naming a character") }
                    index += count
                    text.unicodeScalars.append(scalar)
                default:
                    throw fail("'\\\(e)' is not an escape TOML knows; write '\\\\' for a backslash, or use a 'literal string'")
                }
            }
        }

        mutating func literalString() throws(TOMLSyntaxError) -> String {
            index += 1
            var text = ""
            while true {
                guard let c = peek, c != "\n" else { throw fail("a string is not closed with \"'\" on its line") }
                index += 1
                if c == "'" { return text }
                text.unicodeScalars.append(c)
            }
        }

        mutating func array() throws(TOMLSyntaxError) -> TOMLValue {
            let start = line
            index += 1
            var items: [TOMLValue] = []
            while true {
                skipSpaceAndComments(newlines: true)
                guard let c = peek else { throw TOMLSyntaxError(line: start, reason: "an array is not closed with ']'") }
                if c == "]" {
                    index += 1
                    return .array(items)
                }
                items.append(try value())
                skipSpaceAndComments(newlines: true)
                if peek == "," {
                    index += 1
                } else if peek != "]" {
                    throw fail("expected ',' or ']' in an array")
                }
            }
        }

        mutating func inlineTable() throws(TOMLSyntaxError) -> TOMLValue {
            index += 1
            var table = TOMLTable(line: line)
            skipSpace()
            if peek == "}" {
                index += 1
                return .table(table)
            }
            while true {
                skipSpace()
                let pair = try keyValue()
                table = try Self.inserting(pair.value, at: pair.key[...], into: table, line: pair.line, header: false, full: pair.key)
                skipSpace()
                if peek == "," {
                    index += 1
                } else if peek == "}" {
                    index += 1
                    return .table(table)
                } else {
                    throw fail("expected ',' or '}' in an inline table")
                }
            }
        }
    }
}
