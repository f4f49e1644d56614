import Foundation
import RegistryTestBed
import Testing

/// How nix/ picks an image from a pin for the system it evaluates for:
/// evaluation only, no registry, no build.
@Suite("nix/ platform selection", .enabled(if: TestTools.path("nix-instantiate") != nil || TestTools.requireIntegration(), "nix-instantiate is not installed"))
struct NixPlatformSelectionTests {
    /// A pin of one image recorded as `platform` (null for unknown).
    static func pin(platform: String?) -> String {
        let digest = "sha256:" + String(repeating: "a", count: 64)
        let blob = #"{ digest = "\#(digest)"; size = 1; mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"; hash = "sha256-qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="; }"#
        let platformText = platform.map { "\"\($0)\"" } ?? "null"
        return #"{ repository = "team/app"; tag = "v1"; images = [ { platform = \#(platformText); manifestDigest = "\#(digest)"; manifestMediaType = "application/vnd.oci.image.manifest.v1+json"; manifestSize = 1; config = \#(blob); layers = [ \#(blob) ]; } ]; }"#
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var recorded: String?
        var system: String
        var platform: String?
        var selected: Bool
        var testDescription: String {
            "\(recorded ?? "unknown") pin on \(system)\(platform.map { " with platform = \($0)" } ?? ""): \(selected ? "built" : "refused")"
        }
    }

    static let cases: [Case] = [
        Case(recorded: "linux/amd64", system: "x86_64-linux", platform: nil, selected: true),
        Case(recorded: "linux/amd64", system: "aarch64-linux", platform: nil, selected: false),
        Case(recorded: "linux/amd64", system: "aarch64-linux", platform: "any", selected: true),
        Case(recorded: "linux/amd64", system: "aarch64-linux", platform: "linux/amd64", selected: true),
        Case(recorded: "linux/arm64/v8", system: "aarch64-darwin", platform: nil, selected: true),
        Case(recorded: nil, system: "aarch64-linux", platform: nil, selected: true),
    ]

    @Test(arguments: cases)
    func selection(_ testCase: Case) async throws {
        let platform = testCase.platform.map { " // { platform = \"\($0)\"; }" } ?? ""
        let expression = """
            let lib = import \(NixBed.library) { hocker = "/bin/true"; system = "\(testCase.system)"; };
            in (lib.fetchImage (\(Self.pin(platform: testCase.recorded))\(platform))).drvPath
            """
        let result = try await runProcess("nix-instantiate", ["--eval", "--strict", "-E", expression], environment: NixBed.environment())
        #expect(result.succeeded == testCase.selected, "\(result.stderrText)")
        if !testCase.selected {
            #expect(result.stderrText.contains("no image for linux/arm64/v8 (system aarch64-linux); the pin has linux/amd64"), "\(result.stderrText)")
            #expect(result.stderrText.contains("platform = \"any\""), "\(result.stderrText)")
        }
    }
}
