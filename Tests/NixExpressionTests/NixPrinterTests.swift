import Foundation
import NixExpression
import Testing

@Suite struct NixPrinterTests {
    /// Text, and the Nix string literal that holds exactly it.
    static let strings: [(String, String)] = [
        ("plain", #""plain""#),
        ("", #""""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"back\slash"#, #""back\\slash""#),
        ("${x}", #""\${x}""#),
        (#"\${x}"#, #""\\\${x}""#),
        ("$x and $ alone", #""$x and $ alone""#),
        ("$${x}", #""$\${x}""#),
        ("ends with $", #""ends with $""#),
        ("{x}", #""{x}""#),
        ("two\nlines", #""two\nlines""#),
        ("tab\there", #""tab\there""#),
        ("cr\r\n", #""cr\r\n""#),
        ("''quotes''", #""''quotes''""#),
        ("ünïcödé ☃", #""ünïcödé ☃""#),
    ]

    @Test(arguments: strings)
    func quotesStrings(_ text: String, _ literal: String) throws {
        #expect(try NixPrinter.quote(text) == literal)
    }

    @Test func refusesNUL() {
        #expect(throws: NixRenderError.self) { try NixPrinter.quote("a\0b") }
    }

    /// Attribute names, and how they are written left of `=`.
    static let names: [(String, String)] = [
        ("name", "name"),
        ("imageName", "imageName"),
        ("a-b'c_d", "a-b'c_d"),
        ("_private", "_private"),
        ("true", "true"),
        ("linux/amd64", #""linux/amd64""#),
        ("1abc", #""1abc""#),
        ("with space", #""with space""#),
        ("", #""""#),
        ("if", #""if""#),
        ("rec", #""rec""#),
        ("or", #""or""#),
        ("${x}", #""\${x}""#),
        (#"q"uote"#, #""q\"uote""#),
    ]

    @Test(arguments: names)
    func quotesAttributeNames(_ name: String, _ written: String) throws {
        #expect(try NixPrinter.attributeName(name) == written)
    }

    static let paths: [(String, String)] = [
        ("./image.nix", "./image.nix"),
        ("../nix/default.nix", "../nix/default.nix"),
        ("/nix/store/abc-x", "/nix/store/abc-x"),
        ("~/images/a.nix", "~/images/a.nix"),
        ("nix/default.nix", "nix/default.nix"),
        ("/path with space/x", #"/. + "/path with space/x""#),
        ("/trailing/", #"/. + "/trailing/""#),
        ("image.nix", #"./. + "/image.nix""#),
    ]

    @Test(arguments: paths)
    func writesPaths(_ path: String, _ written: String) throws {
        #expect(try NixPrinter().render(.path(path)) == written + "\n")
    }

    /// Trees and their source in the standard layout.
    static let layouts: [(String, NixExpr, String)] = [
        ("empty set", .attrs([]), "{ }"),
        ("empty rec", .recAttrs([]), "rec { }"),
        ("empty list", .list([]), "[ ]"),
        ("scalars", .list([.integer(1), .bool(true), .null, .string("s")]), #"[ 1 true null "s" ]"#),
        ("negative operand", .call(.variable("f"), .integer(-1)), "f (-1)"),
        ("nested application", .call(.variable("f"), .call(.variable("g"), .variable("x"))), "f (g x)"),
        ("curried application", .call(.variable("f"), .variable("a"), .variable("b")), "f a b"),
        ("lambda applied", .apply(.lambda(.identifier("x"), .variable("x")), .integer(1)), "(x: x) 1"),
        ("application in a list", .list([.call(.variable("f"), .variable("x")), .variable("y")]), "[ (f x) y ]"),
        ("select", .select(.variable("a"), ["b", "c d"]), #"a.b."c d""#),
        ("select of an application", .select(.call(.variable("f"), .variable("x")), ["y"]), "(f x).y"),
        (
            "attribute set",
            .attrs([.attr("a", .integer(1)), .assign(["b", "linux/amd64"], .string("x")), .inherit(from: .variable("pkgs"), ["c", "d"])]),
            """
            {
              a = 1;
              b."linux/amd64" = "x";
              inherit (pkgs) c d;
            }
            """
        ),
        (
            "nested sets",
            .recAttrs([.attr("outer", .attrs([.attr("inner", .list([.attrs([.attr("x", .integer(0))])]))]))]),
            """
            rec {
              outer = {
                inner = [
                  {
                    x = 0;
                  }
                ];
              };
            }
            """
        ),
        (
            "let",
            .letIn([.attr("a", .integer(1))], .list([.variable("a")])),
            """
            let
              a = 1;
            in [ a ]
            """
        ),
        (
            "function with defaults",
            .lambda(
                .set([NixFormal("a"), NixFormal("b", default: .string("x")), NixFormal("c", default: .null)], ellipsis: true, bindAs: "args"),
                .variable("a")),
            """
            { a, b ? "x", c ? null, ... }@args:
            a
            """
        ),
    ]

    @Test(arguments: layouts)
    func laysOut(_ label: String, _ tree: NixExpr, _ source: String) throws {
        #expect(try NixPrinter().render(tree) == source + "\n", "\(label)")
    }

    @Test func longListsBreak() throws {
        let items = (0..<30).map { NixExpr.variable("layer\($0)") }
        let source = try NixPrinter().render(.list(items))
        #expect(source.hasPrefix("[\n  layer0\n  layer1\n"))
        #expect(source.hasSuffix("  layer29\n]\n"))
    }

    @Test(arguments: ["1x", "if", "a b", "", "a.b"])
    func refusesBadIdentifiers(_ name: String) {
        #expect(throws: NixRenderError.invalidIdentifier(name)) { try NixPrinter().render(.variable(name)) }
        #expect(throws: NixRenderError.invalidIdentifier(name)) { try NixPrinter().render(.lambda(.names([name]), .null)) }
    }

    // MARK: Against Nix itself

    /// Every string of the table, printed and read back by `nix-instantiate --eval`.
    @Test(.enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")))
    func nixReadsStringsBack() async throws {
        let texts = Self.strings.map(\.0) + ["\\", "$", "${", "\"${\"", "a$\\${b}", "x\r\ny\tz"]
        let source = try NixPrinter().render(.list(texts.map(NixExpr.string)))
        let json = try await NixTool.run("nix-instantiate", ["--eval", "--strict", "--json", "-E", source])
        let values = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
        #expect(values == texts)
    }

    /// Every attribute name of the table, printed and read back by Nix.
    @Test(.enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")))
    func nixReadsNamesBack() async throws {
        let names = Self.names.map(\.0)
        let source = try NixPrinter().render(
            .apply(.select(.variable("builtins"), ["attrNames"]), .attrs(names.map { .attr($0, .integer(1)) })))
        let json = try await NixTool.run("nix-instantiate", ["--eval", "--strict", "--json", "-E", source])
        let values = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
        #expect(values.map(Set.init) == Set(names))
    }

    /// Every layout of the table parses.
    @Test(.enabled(if: NixTool.available("nix-instantiate") || NixTool.required, NixTool.missingComment("nix-instantiate")))
    func nixParsesLayouts() async throws {
        for (label, tree, _) in Self.layouts {
            for style in [NixPrinter.Style.standard, .hocker] {
                let source = try NixPrinter(style: style).render(tree)
                await #expect(throws: Never.self, "\(label)") { try await NixTool.run("nix-instantiate", ["--parse", "-E", "with { }; (\n" + source + ")"]) }
            }
        }
    }
}
