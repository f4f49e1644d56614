@testable import HockerCLI
import Testing

/// A streamed image's script read back as `hocker load -i SCRIPT` reads it:
/// the values the builder quoted come out as they went in.
@Suite("Stream scripts read back")
struct NixStreamScriptTests {
    @Test(arguments: [
        "plain", "", "two words", "it's", "'", "''", "a'b'c", "/nix/store/abc-docker-layer-0.tar.gz /nix/store/def-docker-layer-1.tar",
        #"back\slash and "double" quotes"#, "$HOME `x`",
    ])
    func quotedValuesRoundTrip(_ value: String) {
        let script = "#!/bin/sh\n# a comment\nexport hockerAction='stream-archive'\nexport value=\(NixBuilderCommand.shellQuoted(value))\nexec '/nix/store/x-hocker/bin/hocker' nix-builder\n"
        let attributes = NixStreamScript.attributes(of: script)
        #expect(attributes?["value"] == value)
        #expect(attributes?["hockerAction"] == "stream-archive")
    }

    @Test(arguments: [
        "", "not a script", "#!/bin/bash\nexport a='b'\n", "#!/bin/sh\nexport a=unquoted\n", "#!/bin/sh\nexport a='open\n", "\u{0}\u{0}manifest.json",
    ])
    func otherFilesAreNoScripts(_ text: String) {
        #expect(NixStreamScript.attributes(of: text) == nil)
    }
}
