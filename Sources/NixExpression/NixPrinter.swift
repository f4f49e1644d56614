/// Turns a ``NixExpr`` into Nix source.
///
/// Layout is fixed and deterministic: a non-empty attribute set or `let`
/// puts each binding on its own line, indented two spaces past the line
/// that opened it; short lists of simple items stay on one line. Strings
/// are escaped (``quote(_:)``), attribute names quoted when they are not
/// identifiers (``attributeName(_:)``), and operands parenthesised where
/// Nix's grammar needs it.
public struct NixPrinter: Sendable {
    /// The few layout choices that differ between output formats.
    public struct Style: Sendable, Hashable {
        /// Extra indentation of a function body's continuation lines.
        public var functionBodyIndent: Int
        /// Extra indentation of a `let`'s `in` line, relative to the `let`.
        public var letInIndent: Int
        /// The widest a list may be and still be printed on one line.
        public var inlineListWidth: Int

        public init(functionBodyIndent: Int, letInIndent: Int, inlineListWidth: Int) {
            self.functionBodyIndent = functionBodyIndent
            self.letInIndent = letInIndent
            self.inlineListWidth = inlineListWidth
        }

        /// The layout of the Haskell hocker's `docker2nix` (hnix's pretty
        /// printer): a function body's lines and a `let`'s `in` indented two
        /// more. The hocker-compatible output is byte for byte this.
        public static let hocker = Style(functionBodyIndent: 2, letInIndent: 2, inlineListWidth: 100)

        /// A conventional layout (nixfmt-like).
        public static let standard = Style(functionBodyIndent: 0, letInIndent: 0, inlineListWidth: 80)
    }

    public var style: Style

    public init(style: Style = .standard) {
        self.style = style
    }

    /// The source of `expression`, ending with a newline.
    public func render(_ expression: NixExpr) throws(NixRenderError) -> String {
        try emit(expression, indent: 0) + "\n"
    }

    // MARK: Lexical pieces

    /// `text` as a double-quoted Nix string: `"` `\` and `${` escaped, and
    /// newline, carriage return and tab written as `\n` `\r` `\t`.
    public static func quote(_ text: String) throws(NixRenderError) -> String {
        var result = "\""
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "$" where index + 1 < scalars.count && scalars[index + 1] == "{":
                result += "\\$"
            case "\0": throw .nulInString(text)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// The Nix keywords, which cannot be used as bare names.
    public static let keywords: Set<String> = ["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"]

    /// Whether `name` can be written bare: `[A-Za-z_][A-Za-z0-9_'-]*` and not a keyword.
    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, isIdentifierStart(first) else { return false }
        return name.unicodeScalars.dropFirst().allSatisfy(isIdentifierContinue) && !keywords.contains(name)
    }

    /// An attribute name as it goes left of `=`: bare when it is an
    /// identifier, else a quoted string (`"linux/amd64"`, `"if"`).
    public static func attributeName(_ name: String) throws(NixRenderError) -> String {
        isIdentifier(name) ? name : try quote(name)
    }

    /// Whether `text` can be written as a path literal: `/a/b`, `./a`, `../a`, `~/a`, `a/b`.
    public static func isPathLiteral(_ text: String) -> Bool {
        var rest = Substring(text)
        for prefix in ["../", "./", "~/", "/"] where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count - 1)
            break
        }
        if !rest.hasPrefix("/") {
            // A relative path without ./ needs at least one slash after a first segment.
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return false }
            guard rest[..<slash].unicodeScalars.allSatisfy(isPathCharacter) else { return false }
            rest = rest[slash...]
        }
        let segments = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return !segments.isEmpty && segments.allSatisfy { !$0.isEmpty && $0.unicodeScalars.allSatisfy(isPathCharacter) }
    }

    private static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_"
    }

    private static func isIdentifierContinue(_ c: Unicode.Scalar) -> Bool {
        isIdentifierStart(c) || ("0"..."9").contains(c) || c == "'" || c == "-"
    }

    private static func isPathCharacter(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-" || c == "+"
    }

    // MARK: Layout

    private func pad(_ indent: Int) -> String { String(repeating: " ", count: indent) }

    /// The source of `expression`; its first line starts wherever the caller
    /// is, its other lines carry their full indentation.
    private func emit(_ expression: NixExpr, indent: Int) throws(NixRenderError) -> String {
        switch expression {
        case .string(let text):
            return try Self.quote(text)
        case .integer(let value):
            return String(value)
        case .bool(let value):
            return value ? "true" : "false"
        case .null:
            return "null"
        case .path(let text):
            if Self.isPathLiteral(text) { return text }
            if text.hasPrefix("/") { return "/. + \(try Self.quote(text))" }
            return "./. + \(try Self.quote("/" + text))"
        case .variable(let name):
            guard Self.isIdentifier(name) else { throw .invalidIdentifier(name) }
            return name
        case .attrs(let bindings, let recursive):
            let open = recursive ? "rec {" : "{"
            guard !bindings.isEmpty else { return recursive ? "rec { }" : "{ }" }
            var text = open
            for binding in bindings {
                text += "\n" + pad(indent + 2) + (try emit(binding, indent: indent + 2))
            }
            return text + "\n" + pad(indent) + "}"
        case .list(let items):
            guard !items.isEmpty else { return "[ ]" }
            var rendered: [String] = []
            for item in items { rendered.append(try operand(item, indent: indent + 2)) }
            let inline = "[ " + rendered.joined(separator: " ") + " ]"
            if !inline.contains("\n") && indent + inline.count <= style.inlineListWidth { return inline }
            return "[" + rendered.map { "\n" + pad(indent + 2) + $0 }.joined() + "\n" + pad(indent) + "]"
        case .letIn(let bindings, let body):
            var text = "let"
            for binding in bindings {
                text += "\n" + pad(indent + 2) + (try emit(binding, indent: indent + 2))
            }
            let inIndent = indent + style.letInIndent
            return text + "\n" + pad(inIndent) + "in " + (try emit(body, indent: inIndent))
        case .lambda(let formals, let body):
            switch formals {
            case .identifier(let name):
                guard Self.isIdentifier(name) else { throw .invalidIdentifier(name) }
                return name + ": " + (try emit(body, indent: indent))
            case .set:
                let bodyIndent = indent + style.functionBodyIndent
                return try emit(formals, indent: indent) + ":\n" + pad(indent) + (try emit(body, indent: bodyIndent))
            }
        case .apply(let function, let argument):
            let head: String
            switch function {
            case .lambda, .letIn: head = "(" + (try emit(function, indent: indent)) + ")"
            default: head = try emit(function, indent: indent)
            }
            return head + " " + (try operand(argument, indent: indent))
        case .select(let base, let path):
            guard !path.isEmpty else { throw .emptyName }
            var names: [String] = []
            for name in path { names.append(try Self.attributeName(name)) }
            return try operand(base, indent: indent) + "." + names.joined(separator: ".")
        }
    }

    /// An expression in argument or list-item position: parenthesised
    /// unless it is atomic.
    private func operand(_ expression: NixExpr, indent: Int) throws(NixRenderError) -> String {
        switch expression {
        case .string, .bool, .null, .variable, .attrs, .list, .select:
            return try emit(expression, indent: indent)
        case .integer(let value) where value >= 0:
            return try emit(expression, indent: indent)
        case .path(let text) where Self.isPathLiteral(text):
            return text
        default:
            return "(" + (try emit(expression, indent: indent)) + ")"
        }
    }

    private func emit(_ binding: NixBinding, indent: Int) throws(NixRenderError) -> String {
        switch binding {
        case .assign(let path, let value):
            guard !path.isEmpty else { throw .emptyName }
            var names: [String] = []
            for name in path { names.append(try Self.attributeName(name)) }
            return names.joined(separator: ".") + " = " + (try emit(value, indent: indent)) + ";"
        case .inherit(let source, let names):
            guard !names.isEmpty else { throw .emptyName }
            var text = "inherit"
            if let source { text += " (" + (try emit(source, indent: indent)) + ")" }
            for name in names { text += " " + (try Self.attributeName(name)) }
            return text + ";"
        }
    }

    private func emit(_ formals: NixFormals, indent: Int) throws(NixRenderError) -> String {
        switch formals {
        case .identifier(let name):
            guard Self.isIdentifier(name) else { throw .invalidIdentifier(name) }
            return name
        case .set(let arguments, let ellipsis, let bindAs):
            var parts: [String] = []
            for argument in arguments {
                guard Self.isIdentifier(argument.name) else { throw .invalidIdentifier(argument.name) }
                if let value = argument.defaultValue {
                    parts.append(argument.name + " ? " + (try emit(value, indent: indent + 2)))
                } else {
                    parts.append(argument.name)
                }
            }
            if ellipsis { parts.append("...") }
            var text = parts.isEmpty ? "{ }" : "{ " + parts.joined(separator: ", ") + " }"
            if let bindAs {
                guard Self.isIdentifier(bindAs) else { throw .invalidIdentifier(bindAs) }
                text += "@" + bindAs
            }
            return text
        }
    }
}
