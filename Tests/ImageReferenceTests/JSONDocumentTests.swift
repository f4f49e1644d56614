import Foundation
import Testing

@testable import ImageReference

@Suite("JSON documents")
struct JSONDocumentTests {
    /// A label value as a registry could choose it, and how the pretty document must write it.
    static let cases: [(value: String, written: String)] = [
        ("plain", #""plain""#),
        ("\u{1B}]0;owned\u{07}", #""\u001b]0;owned\u0007""#),
        ("del\u{7F}", #""del\u007F""#),
        ("c1 \u{9B}2J", #""c1 \u009B2J""#),
        ("next\u{85}line", #""next\u0085line""#),
        ("rtl \u{202E}gnp.exe", #""rtl \u202Egnp.exe""#),
        ("isolate \u{2066}x\u{2069}", #""isolate \u2066x\u2069""#),
        ("marks \u{200E}\u{200F}\u{061C}", #""marks \u200E\u200F\u061C""#),
        ("separators \u{2028}\u{2029}", #""separators \u2028\u2029""#),
        ("kept é – ✓ \u{2030} \u{2070}", "\"kept é – ✓ \u{2030} \u{2070}\""),
    ]

    @Test(arguments: cases)
    func terminalControlsEscaped(_ value: String, written: String) throws {
        let document = try JSONDocument.bytes(of: ["label": value])
        let text = String(decoding: document, as: UTF8.self)
        #expect(text == "{\n  \"label\" : \(written)\n}\n")
        let readBack = try JSONDecoder().decode([String: String].self, from: document)
        #expect(readBack["label"] == value)
    }
}
