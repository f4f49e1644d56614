import Foundation
import RegistryTestBed
import Testing

/// What a terminal sees of `hocker` against a hostile registry in the test
/// process: text the registry chose (tags, labels, platforms, error bodies)
/// printed with its control characters escaped, `--json` still JSON, and
/// no URL it hands over followed off its origin. Needs no external tool:
/// only the built `hocker`.
@Suite("hocker against the in-process registry", .timeLimit(.minutes(2)))
struct TerminalOutputTests {
    /// Starts a registry holding `image` as `team/app:latest`, runs `body`, stops it.
    static func withRegistry<Result: Sendable>(
        auth: RegistryAuth = .open, image: ImageFixture = .terminal, _ body: (InProcessRegistry) async throws -> Result
    ) async throws -> Result {
        try await InProcessRegistry.with(auth: auth) { registry in
            registry.push(image, to: "team/app")
            return try await body(registry)
        }
    }

    /// Control characters a registry could use against a terminal: OSC
    /// (retitle), CSI (clear), a C1 CSI, BEL, a newline that fakes a line.
    static let hostile = ["\u{1b}]0;owned\u{07}", "\u{1b}[2J", "\u{9b}31m", "\u{07}", "\n"]

    /// Whether `bytes` hold none of the characters a terminal acts on
    /// (ESC, BEL, CR, DEL, C1); newlines are checked by counting lines.
    static func isInert(_ bytes: Data) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        return !text.unicodeScalars.contains { scalar in
            (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7f...0x9f).contains(scalar.value)
        }
    }

    /// Whether JSON text holds no C0 control character raw (ESC, BEL, CR):
    /// what a JSON encoder must escape. DEL and C1 it may leave as they are.
    static func hasNoRawC0(_ bytes: Data) -> Bool {
        !bytes.contains { $0 < 0x20 && $0 != 0x0a && $0 != 0x09 }
    }

    /// Tags that break the grammar and carry escapes: listed, one a line,
    /// escaped and flagged; valid tags as they are.
    @Test func tagsEscapedAndFlagged() async throws {
        try await Self.withRegistry { registry in
            let hostileTags = ["evil\u{1b}]0;owned\u{07}", "clear\u{1b}[2J", "c1\u{9b}31m", "two\nlines"]
            for tag in hostileTags + ["1.0"] { registry.tag(tag, digest: ImageFixture.terminal.top.digest, repository: "team/app") }
            let result = try await HockerBinary.run("hocker", ["tags", "\(registry.host)/team/app"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(Self.isInert(result.stdout))
            let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            #expect(lines.count == 6, "\(lines)")
            #expect(lines.contains("1.0"))
            #expect(lines.contains("latest"))
            for expected in [#"evil\x1b]0;owned\x07"#, #"clear\x1b[2J"#, #"c1\u009b31m"#, #"two\nlines"#] {
                #expect(lines.contains("\(expected)  (not a valid tag)"), "\(expected) in \(lines)")
            }
        }
    }

    /// `--json` keeps every tag as the registry sent it, in valid JSON.
    @Test func tagsJSONStaysJSON() async throws {
        try await Self.withRegistry { registry in
            let hostileTags = Self.hostile.map { "t" + $0 }
            for tag in hostileTags { registry.tag(tag, digest: ImageFixture.terminal.top.digest, repository: "team/app") }
            let result = try await HockerBinary.run("hocker", ["tags", "--json", "\(registry.host)/team/app"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(Self.hasNoRawC0(result.stdout))
            let document = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
            #expect(Set(document?["tags"] as? [String] ?? []) == Set(hostileTags + ["latest"]))
        }
    }

    /// `inspect`: labels and an index's platform fields escaped in the
    /// text, as they are in `--json`.
    @Test func inspectEscapedAndJSON() async throws {
        try await Self.withRegistry(image: .hostilePlatform) { registry in
            let reference = "\(registry.host)/team/app:latest"
            let text = try await HockerBinary.run("hocker", ["inspect", reference])
            #expect(text.status == 0, "\(text.stderrText)")
            #expect(Self.isInert(text.stdout), "\(text.stdoutText.debugDescription)")
            #expect(text.stdoutText.contains(#"label     title\x1b[31m=red\x1b]0;owned\x07"#), "\(text.stdoutText)")
            #expect(text.stdoutText.contains(#"label     two=lines\nhere"#))
            #expect(text.stdoutText.contains(#"linux\x1b[2J/amd64"#), "\(text.stdoutText)")

            let json = try await HockerBinary.run("hocker", ["inspect", "--json", reference])
            #expect(json.status == 0, "\(json.stderrText)")
            #expect(Self.hasNoRawC0(json.stdout))
            let document = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
            let images = document["images"] as? [[String: Any]] ?? []
            #expect(images.first?["labels"] as? [String: String] == ImageFixture.hostileLabels)
            #expect(images.first?["platform"] as? String == "linux\u{1b}[2J/amd64")
        }
    }

    /// An error that echoes what the registry said — an error body, the
    /// platforms an index offers — is escaped; the exit status is 1.
    @Test(arguments: ["error body", "platforms offered"])
    func errorMessagesEscaped(_ what: String) async throws {
        try await Self.withRegistry(image: .hostilePlatform) { registry in
            var arguments = ["manifest", "\(registry.host)/team/app:latest"]
            if what == "error body" {
                let body = #"{"errors":[{"code":"NAME_INVALID","message":"gone \u001b]0;owned\u0007 \u001b[2J \u009b31m"}]}"#
                registry.add(.manifestGETs, .respond(status: 400, headers: [("Content-Type", "application/json")], body: body))
            } else {
                arguments += ["--platform", "linux/s390x"]
            }
            let result = try await HockerBinary.run("hocker", arguments)
            #expect(result.status == 1, "\(result.stderrText)")
            #expect(Self.isInert(result.stderr), "\(result.stderrText.debugDescription)")
            let expected = what == "error body" ? #"gone \x1b]0;owned\x07 \x1b[2J \u009b31m"# : #"linux\x1b[2J/amd64"#
            #expect(result.stderrText.contains(expected), "\(result.stderrText)")
            #expect(result.stdout.isEmpty)
        }
    }

    /// `hocker tags -u U -p P` against a registry whose `Link` sends the
    /// next page to another origin: refused, naming the URL; the other
    /// origin is asked nothing, so it never sees the credentials.
    @Test func tagsLinkToAnotherOriginRefused() async throws {
        try await Self.withRegistry(auth: .basic(username: "alice", password: "s3cret")) { registry in
            for tag in ["a", "b", "c", "d"] { registry.tag(tag, digest: ImageFixture.terminal.top.digest, repository: "team/app") }
            registry.setTagPageSize(2)
            let other = registry.otherBaseURL
            registry.add(.route(.tags, listener: .main), .linkNext { other + $0 })
            let result = try await HockerBinary.run("hocker", ["tags", "-u", "alice", "-p", "s3cret", "\(registry.host)/team/app"])
            #expect(result.status == 1, "\(result.stderrText)")
            #expect(result.stderrText.contains(other + "/v2/team/app/tags/list?"), "\(result.stderrText)")
            #expect(!result.stderrText.contains("s3cret"))
            #expect(registry.requests.filter { $0.listener == .other }.isEmpty)
            #expect(registry.requests(.route(.tags, listener: .main)).contains { $0.hasAuthorization })
        }
    }

    /// `hocker image --out -`: the docker-archive on standard output, each
    /// blob in it the registry's bytes.
    @Test func imageToStandardOutput() async throws {
        try await Self.withRegistry { registry in
            let result = try await HockerBinary.run("hocker", ["image", "--quiet", "--out", "-", "\(registry.host)/team/app:latest"])
            #expect(result.status == 0, "\(result.stderrText)")
            var digests: Set<String> = []
            var offset = 0
            let tar = result.stdout
            while offset + 512 <= tar.count, !tar[offset..<offset + 512].allSatisfy({ $0 == 0 }) {
                let sizeField = String(decoding: tar[(offset + 124)..<(offset + 135)], as: UTF8.self)
                let size = try #require(Int(sizeField, radix: 8))
                digests.insert(sha256Digest(tar[(offset + 512)..<(offset + 512 + size)]))
                offset += 512 + (size + 511) / 512 * 512
            }
            #expect(Set(ImageFixture.terminal.blobs.map(\.digest)).isSubset(of: digests))
        }
    }
}

extension ImageFixture {
    /// One platform, one small layer.
    static let terminal = ImageFixture.build(seed: "terminal", layerSizes: [2_000])

    /// Labels with escapes and a newline in keys and values.
    static let hostileLabels = ["title\u{1b}[31m": "red\u{1b}]0;owned\u{07}", "two": "lines\nhere"]

    /// An index whose only entry's platform has a CSI in its `os`, over an image labelled with escapes.
    static let hostilePlatform: ImageFixture = {
        var image = ImageFixture.build(seed: "terminal-hostile", layerSizes: [1_000], labels: hostileLabels)
        image.index = ImageFixture.index([(image.single.manifest, TestPlatform(os: "linux\u{1b}[2J", architecture: "amd64"))])
        return image
    }()
}
