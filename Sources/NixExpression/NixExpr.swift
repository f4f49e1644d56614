/// A Nix expression, as a tree: the subset of the language the generators
/// need. Values go in as values (a `.string` holds the text itself, never
/// Nix source), and ``NixPrinter`` turns the tree into source with every
/// string escaped and every attribute name quoted where it has to be.
public indirect enum NixExpr: Sendable, Hashable {
    /// A string literal holding exactly this text.
    case string(String)
    /// An integer literal (Nix integers are 64-bit).
    case integer(Int64)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null
    /// A path: `./image.nix`, `/nix/store/...`, `~/x`. Text that is not a
    /// valid path literal is printed as `/. + "/the path"`.
    case path(String)
    /// A variable reference, `fetchdocker`. Must be a valid identifier.
    case variable(String)
    /// An attribute set, `{ a = 1; inherit b; }`, or `rec { ... }`.
    case attrs([NixBinding], recursive: Bool)
    /// A list, `[ a b ]`.
    case list([NixExpr])
    /// `let bindings in body`.
    case letIn([NixBinding], NixExpr)
    /// A function, `{ a, b ? 1 }: body` or `x: body`.
    case lambda(NixFormals, NixExpr)
    /// Function application, `f x`.
    case apply(NixExpr, NixExpr)
    /// Attribute selection, `e.a.b`.
    case select(NixExpr, [String])

    /// A non-recursive attribute set.
    public static func attrs(_ bindings: [NixBinding]) -> NixExpr { .attrs(bindings, recursive: false) }

    /// A recursive attribute set, `rec { ... }`.
    public static func recAttrs(_ bindings: [NixBinding]) -> NixExpr { .attrs(bindings, recursive: true) }

    /// `f a b ...`: `f` applied to each argument in turn.
    public static func call(_ function: NixExpr, _ arguments: NixExpr...) -> NixExpr {
        arguments.reduce(function) { .apply($0, $1) }
    }

    /// A string, or `null` for nil.
    public static func optionalString(_ text: String?) -> NixExpr { text.map(NixExpr.string) ?? .null }
}

/// One binding in an attribute set or a `let`.
public enum NixBinding: Sendable, Hashable {
    /// `a.b.c = value;` (an attribute path of one or more names).
    case assign([String], NixExpr)
    /// `inherit a b;` or, with a source, `inherit (source) a b;`.
    case inherit(from: NixExpr?, [String])

    /// `name = value;`
    public static func attr(_ name: String, _ value: NixExpr) -> NixBinding { .assign([name], value) }

    /// `inherit names;`
    public static func inherit(_ names: [String]) -> NixBinding { .inherit(from: nil, names) }
}

/// A function's argument pattern.
public enum NixFormals: Sendable, Hashable {
    /// A plain argument, `x: ...`.
    case identifier(String)
    /// An attribute-set pattern, `{ a, b ? default, ... }@name: ...`.
    case set([NixFormal], ellipsis: Bool, bindAs: String?)

    /// `{ a, b }:` with no defaults, no ellipsis.
    public static func names(_ names: [String]) -> NixFormals {
        .set(names.map { NixFormal($0) }, ellipsis: false, bindAs: nil)
    }
}

/// One argument of an attribute-set pattern, with its default when it has one.
public struct NixFormal: Sendable, Hashable {
    public var name: String
    public var defaultValue: NixExpr?

    public init(_ name: String, default defaultValue: NixExpr? = nil) {
        self.name = name
        self.defaultValue = defaultValue
    }
}

/// A tree the printer cannot turn into valid Nix source.
public enum NixRenderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A variable or function argument that is not a Nix identifier (or is a keyword).
    case invalidIdentifier(String)
    /// A string with a NUL character, which Nix strings cannot hold.
    case nulInString(String)
    /// An attribute path or `inherit` with no names.
    case emptyName

    public var description: String {
        switch self {
        case .invalidIdentifier(let name):
            "'\(name)' is not a Nix identifier (letters, digits, _, ' and -, not starting with a digit, not a keyword)"
        case .nulInString(let text):
            "a Nix string cannot contain a NUL character (in '\(text.replacingNUL)')"
        case .emptyName:
            "an attribute path or inherit needs at least one name"
        }
    }
}

extension String {
    fileprivate var replacingNUL: String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }
}
