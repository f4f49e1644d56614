@testable import HockerCLI
import Testing

/// The command line as the executables see it: which tool argv[0] names,
/// the `+RTS ... -RTS` spans nixpkgs passes, and the options' own checks.
/// No registry, no network.
@Suite("Command line parsing")
struct CommandLineParsingTests {
    @Test(arguments: [
        // tool, argv, what Hocker parses
        (HockerMain.Tool.hocker, ["/usr/bin/hocker", "image", "x"], ["image", "x"]),
        (.hocker, ["/nix/store/abc-hocker/bin/hocker-layer", "--layer", "d", "x"], ["layer", "--layer", "d", "x"]),
        (.hocker, ["docker2nix", "x", "y"], ["docker2nix", "x", "y"]),
        (.hocker, ["./hocker-unknown", "manifest", "x"], ["manifest", "x"]),
        (.manifest, ["hocker-manifest", "x", "y"], ["manifest", "x", "y"]),
        (.image, ["anything", "x"], ["image", "x"]),
        (.layer, ["hocker-layer", "+RTS", "-N4", "-RTS", "--layer", "d", "x", "unused"], ["layer", "--layer", "d", "x", "unused"]),
        (.config, ["hocker-config", "a", "+RTS", "-N", "-RTS", "b", "+RTS", "-s"], ["config", "a", "b"]),
        (.config, ["hocker-config", "-RTS", "a"], ["config", "-RTS", "a"]),
        (.hocker, ["hocker", "-q", "lock", "update", "app"], ["lock", "update", "-q", "app"]),
        (.hocker, ["hocker", "--quiet", "tags", "x"], ["tags", "--quiet", "x"]),
    ])
    func argumentsParsed(_ tool: HockerMain.Tool, _ argv: [String], _ expected: [String]) {
        #expect(HockerMain.commandLine(tool: tool, arguments: argv) == expected)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var mentions: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    @Test(arguments: [
        Invalid(arguments: ["image", "x", "--jobs", "0"], mentions: "--jobs"),
        Invalid(arguments: ["image", "x", "--retries", "101"], mentions: "--retries"),
        Invalid(arguments: ["manifest", "x", "--timeout", "0"], mentions: "--timeout"),
        Invalid(arguments: ["manifest", "x", "--max-time", "0"], mentions: "--max-time"),
        Invalid(arguments: ["docker2nix", "x", "--json", "--format", "hocker"], mentions: "exclude each other"),
        Invalid(arguments: ["docker2nix", "x", "--platform", "all", "--platform", "linux/amd64"], mentions: "--platform all"),
        Invalid(arguments: ["docker2nix", "x", "--platform", "linux/amd64", "--platform", "linux/arm64"], mentions: "one platform"),
        Invalid(arguments: ["docker2nix", "x", "--format", "hocker", "--platform", "linux"], mentions: "invalid platform"),
        Invalid(arguments: ["layer", "x"], mentions: "--layer"),
        Invalid(arguments: ["manfest", "x"], mentions: "manfest"),
        Invalid(arguments: ["image", "x", "--insecure-policy", "--policy", "p.json"], mentions: "exclude each other"),
        Invalid(arguments: ["verify", "x", "--insecure-policy"], mentions: "nothing to verify"),
        Invalid(arguments: ["layer", "--layer", "sha256:x", "x", "--policy", "p.json"], mentions: "--policy"),
        Invalid(arguments: ["referrers", "x", "--artifact-type", "a b"], mentions: "--artifact-type"),
    ])
    func invalidArgumentsAreRefused(_ case: Invalid) {
        #expect {
            _ = try Hocker.parseAsRoot(`case`.arguments)
        } throws: { error in
            Hocker.exitCode(for: error) != .success && Hocker.message(for: error).contains(`case`.mentions)
        }
    }

    @Test func validArgumentsParse() throws {
        let command = try Hocker.parseAsRoot(["image", "--registry", "http://127.0.0.1:5000/v2/", "team/app", "v1", "--jobs", "8", "--out=x.tar"])
        let image = try #require(command as? ImageCommand)
        #expect(image.jobs == 8)
        #expect(image.out == "x.tar")
        #expect(image.image.imageName == "team/app" && image.image.imageTag == "v1")
    }
}
