import DaemonClient
import Foundation
import Testing

@Suite("Daemon messages")
struct DaemonMessageTests {
    /// docker 20.10's answer to a load, and podman 4's, as they stream.
    static let dockerAnswer = """
        {"status":"Loading layer","progressDetail":{"current":32768,"total":716800},"progress":"[==\\u003e   ]  32.77kB/716.8kB","id":"ebc9a919bb86"}
        {"status":"Loading layer","progressDetail":{"current":716800,"total":716800},"progress":"[=====\\u003e]  716.8kB/716.8kB","id":"ebc9a919bb86"}
        {"stream":"Loaded image: tini:test\\n"}

        """
    static let podmanAnswer = #"{"stream":"Loaded image: localhost/tini:gz"}"#
    static let brokenAnswer = """
        {"status":"Loading layer","progressDetail":{"current":32768,"total":331300},"id":"ebc9a919bb86"}
        {"errorDetail":{"message":"Error processing tar file(exit status 1): archive/tar: invalid tar header"},"error":"Error processing tar file(exit status 1): archive/tar: invalid tar header"}

        """

    /// Every way of cutting the answer into two chunks gives the same objects.
    @Test(arguments: [dockerAnswer, podmanAnswer, brokenAnswer])
    func splitsAtEveryBoundary(_ answer: String) throws {
        let bytes = Array(answer.utf8)
        var whole = JSONObjectSplitter()
        let expected = try whole.feed(bytes)
        #expect(!expected.isEmpty)
        for cut in 0...bytes.count {
            var splitter = JSONObjectSplitter()
            let objects = try splitter.feed(bytes[..<cut]) + splitter.feed(bytes[cut...])
            #expect(objects == expected)
            #expect(!splitter.isInsideObject)
        }
    }

    @Test func objectsBackToBackAndBracesInStrings() throws {
        var splitter = JSONObjectSplitter()
        let objects = try splitter.feed(Array(#"{"stream":"a } { \" b"}{"stream":"[c]"}"#.utf8))
        #expect(objects.map { String(decoding: $0, as: UTF8.self) } == [#"{"stream":"a } { \" b"}"#, #"{"stream":"[c]"}"#])
    }

    @Test func textOutsideAnObjectIsRefused() {
        var splitter = JSONObjectSplitter()
        #expect(throws: JSONObjectSplitter.SplitError.unexpected(UInt8(ascii: "<"))) { try splitter.feed(Array("<html>".utf8)) }
    }

    @Test func anEndInsideAnObjectIsSeen() throws {
        var splitter = JSONObjectSplitter()
        _ = try splitter.feed(Array(#"{"stream":"Loaded"#.utf8))
        #expect(splitter.isInsideObject)
    }

    @Test(arguments: [
        (#"{"stream":"Loaded image: tini:test\n"}"#, DaemonMessage.LoadedImage.name("tini:test"), nil),
        (#"{"stream":"Loaded image ID: sha256:abc\n"}"#, .id("sha256:abc"), nil),
        (#"{"stream":"Loaded image: localhost/a:1,localhost/b:2"}"#, .name("localhost/a:1,localhost/b:2"), nil),
        (#"{"errorDetail":{"message":"the words"},"error":"other words"}"#, nil, "the words"),
        (#"{"error":"only these"}"#, nil, "only these"),
        // A field of an unexpected type does not hide the error beside it.
        (#"{"error":"kept","errorDetail":{"message":5},"progressDetail":"odd"}"#, nil, "kept"),
        (#"{"status":"Loading layer","id":"x"}"#, nil, nil),
    ] as [(String, DaemonMessage.LoadedImage?, String?)])
    func decodes(_ json: String, loaded: DaemonMessage.LoadedImage?, error: String?) throws {
        let message = try JSONDecoder().decode(DaemonMessage.self, from: Data(json.utf8))
        #expect(message.loadedImage == loaded)
        #expect(message.errorMessage == error)
    }

    @Test(arguments: [
        ("127.0.0.1:5000/test/app:v1", "127.0.0.1:5000/test/app", "v1"), ("debian:bookworm", "debian", "bookworm"),
        ("docker.io/library/debian:12", "docker.io/library/debian", "12"),
    ])
    func splitsNames(_ text: String, repository: String, tag: String) throws {
        let name = try #require(TagName(text))
        #expect(name.repository == repository && name.tag == tag)
        #expect(name.description == text)
    }

    @Test(arguments: ["127.0.0.1:5000/test/app", "app", "app@sha256:abc", "app:", ":tag"])
    func refusesNamesWithoutATag(_ text: String) {
        #expect(TagName(text) == nil)
    }
}

@Suite("Daemon errors")
struct DaemonErrorTests {
    static let standard = DaemonEndpoint(socketPath: "/var/run/docker.sock", origin: .standard(tried: ["/var/run/docker.sock", "/run/podman/podman.sock"]))

    @Test func noDaemonSaysWhereItLookedAndWhatToDo() {
        let error = DaemonError.noDaemon(Self.standard, .missing)
        #expect(error.message.contains("/var/run/docker.sock"))
        #expect(error.message.contains("not running"))
        #expect(error.hints.contains { $0.contains("/run/podman/podman.sock") })
        #expect(error.hints.contains { $0.contains("--host unix://") && $0.contains("DOCKER_HOST") })
    }

    @Test func permissionDeniedNamesTheGroup() {
        let error = DaemonError.permissionDenied(Self.standard, group: "docker")
        #expect(error.message.contains("'docker'"))
        #expect(error.hints.contains { $0.contains("usermod -aG docker") })
    }

    /// A socket of group root: no group to join, so none is suggested.
    @Test func permissionDeniedOnARootSocket() {
        let error = DaemonError.permissionDenied(Self.standard, group: "root")
        #expect(error.message.hasSuffix(": only root may use this daemon"))
        #expect(!error.hints.contains { $0.contains("usermod") })
        #expect(error.hints.contains { $0.contains("--group docker") })
    }

    @Test(arguments: [
        (ArchiveDescription(name: "x.tar", isOCIArchive: true), "oci-archive"),
        (ArchiveDescription(name: "x.tar", hasZstdLayers: true), "zstd"),
        (ArchiveDescription(name: "x.tar", hasZstdLayers: nil), "zstd"),
    ])
    func aRefusalSaysWhatItLikelyWas(_ archive: ArchiveDescription, mentions word: String) {
        let error = DaemonError.archiveRefused(archive, daemon: "docker 20.10.24", message: "archive/tar: invalid tar header")
        #expect(error.message == "docker 20.10.24 refused x.tar: archive/tar: invalid tar header")
        #expect(error.hints.contains { $0.contains(word) })
    }

    @Test func aRefusalOfAnOrdinaryArchiveHasNoGuess() {
        let error = DaemonError.archiveRefused(ArchiveDescription(name: "x.tar", hasZstdLayers: false), daemon: "docker 20.10.24", message: "no")
        #expect(error.hints.isEmpty)
    }
}
