import ImageReference
import ImageTrust
import Testing

@Suite("registries.d")
struct SignatureStorageTests {
    static func configuration(_ files: [(String, String)]) throws(SignatureStorageError) -> SignatureStorageConfiguration {
        try SignatureStorageConfiguration(files: files.map { (name: $0.0, contents: Array($0.1.utf8)) })
    }

    /// Fedora's default.yaml: everything commented out, `default-docker:` empty.
    static let fedoraDefault = """
        # This is a default registries.d configuration file.  You may
        # add to this file or create additional files in registries.d/.
        #
        # lookaside: indicates a location that is read and write
        default-docker:
        #  lookaside: file:///var/lib/containers/sigstore
        #  lookaside-staging: file:///var/lib/containers/sigstore

        # docker:
        #   privateregistry.com:
        #     lookaside: http://privateregistry.com/sigstore/
        """

    static let redHat = """
        docker:
             registry.redhat.io:
                 sigstore: https://registry.redhat.io/containers/sigstore
             registry.access.redhat.com:
                 sigstore: https://access.redhat.com/webassets/docker/content/sigstore
        """

    static let local = """
        ---
        default-docker:
          lookaside: "https://sigs.example.com/default"   # quoted, with a comment
          use-sigstore-attachments: false
        docker:
          registry.local:5000:
            lookaside: http://127.0.0.1:8080/sigs
            lookaside-staging: file:///srv/sigs
            use-sigstore-attachments: true
          registry.local:5000/team/app:
            use-sigstore-attachments: false
          'quay.io/org':
            lookaside: file:///var/lib/sigs/quay
          "*.example.org":
            lookaside: https://sigs.example.org
          registry.local:5000/team:
            unknown-setting: 1
        extra-top-level: {}
        """

    @Test("files merge; lookups take the most specific scope that sets each setting")
    func lookups() throws {
        let configuration = try Self.configuration([("default.yaml", Self.fedoraDefault), ("redhat.yaml", Self.redHat), ("local.yaml", Self.local)])
        #expect(configuration.ignoredKeys == ["local.yaml:17: registry.local:5000/team.unknown-setting", "local.yaml:18: extra-top-level"])
        let builtin = SignatureSources.builtinLookaside(isRoot: true, home: "/root")
        func sources(_ image: String) throws -> SignatureSources {
            configuration.sources(for: try ImageReference(parsing: image), builtinLookaside: builtin)
        }
        #expect(try sources("registry.local:5000/team/app:1") == SignatureSources(
            lookaside: "http://127.0.0.1:8080/sigs", lookasideOrigin: #"docker["registry.local:5000"] in local.yaml"#, useSigstoreAttachments: false))
        #expect(try sources("registry.local:5000/other:1").useSigstoreAttachments)
        #expect(try sources("registry.redhat.io/ubi9/ubi:latest").lookaside == "https://registry.redhat.io/containers/sigstore")
        #expect(try sources("quay.io/org/app").lookaside == "file:///var/lib/sigs/quay")
        #expect(try sources("quay.io/other/app").lookaside == "https://sigs.example.com/default")
        #expect(try sources("cdn.example.org/app").lookaside == "https://sigs.example.org")
        #expect(try sources("quay.io/other/app").lookasideOrigin == "default-docker in local.yaml")
    }

    @Test("nothing configured: the built-in lookaside, no attachments")
    func builtin() throws {
        let configuration = try Self.configuration([("default.yaml", Self.fedoraDefault)])
        let sources = configuration.sources(for: try ImageReference(parsing: "busybox"), builtinLookaside: SignatureSources.builtinLookaside(isRoot: false, home: "/home/u"))
        #expect(sources == SignatureSources(lookaside: "file:///home/u/.local/share/containers/sigstore", lookasideOrigin: "built-in default", useSigstoreAttachments: false))
    }

    @Test("signature URLs: <lookaside>/<repository>@<algorithm>=<hex>/signature-N")
    func urls() throws {
        let sources = SignatureSources(lookaside: "https://sigs.example.com/store", lookasideOrigin: "test", useSigstoreAttachments: false)
        let digest = try Digest(parsing: "sha256:" + String(repeating: "ab", count: 32))
        #expect(
            sources.lookasideURL(image: try ImageReference(parsing: "busybox:1"), manifestDigest: digest, index: 2)
                == "https://sigs.example.com/store/library/busybox@sha256=\(digest.hex)/signature-2")
        let file = SignatureSources(lookaside: "file:///var/lib/containers/sigstore", lookasideOrigin: "test", useSigstoreAttachments: false)
        #expect(
            file.lookasideURL(image: try ImageReference(parsing: "registry.local:5000/a/b:c"), manifestDigest: digest, index: 1)
                == "file:///var/lib/containers/sigstore/a/b@sha256=\(digest.hex)/signature-1")
        #expect(SigstoreSignature.attachmentTag(for: digest) == "sha256-\(digest.hex).sig")
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var files: [String]
        var error: SignatureStorageError
        var testDescription: String { error.message }
    }

    static let invalid: [Invalid] = [
        Invalid(
            files: ["default-docker:\n  lookaside: a\n", "default-docker:\n  lookaside: b\n"],
            error: SignatureStorageError(file: "1.yaml", line: nil, reason: "default-docker is defined both here and in 0.yaml")),
        Invalid(
            files: ["docker:\n  quay.io:\n    lookaside: a\n", "docker:\n  quay.io:\n    lookaside: b\n"],
            error: SignatureStorageError(file: "1.yaml", line: nil, reason: #"docker scope "quay.io" is defined both here and in 0.yaml"#)),
        Invalid(files: ["docker:\n  - quay.io\n"], error: SignatureStorageError(file: "0.yaml", line: 2, reason: #"only KEY: VALUE mappings are supported here, not "-""#)),
        Invalid(files: ["docker:\n\tquay.io:\n"], error: SignatureStorageError(file: "0.yaml", line: 2, reason: "tabs cannot indent YAML")),
        Invalid(
            files: ["default-docker:\n  lookaside: &a x\n"],
            error: SignatureStorageError(file: "0.yaml", line: 2, reason: #"only plain and quoted scalar values are supported here, not "&""#)),
        Invalid(
            files: ["default-docker:\n  lookaside: a\n  lookaside: b\n"],
            error: SignatureStorageError(file: "0.yaml", line: 3, reason: #"the key "lookaside" is already defined in this mapping"#)),
        Invalid(
            files: ["default-docker:\n  use-sigstore-attachments: \"true\"\n"],
            error: SignatureStorageError(file: "0.yaml", line: 2, reason: "use-sigstore-attachments: must be true or false")),
        Invalid(
            files: ["default-docker:\n  lookaside: |\n    x\n"],
            error: SignatureStorageError(file: "0.yaml", line: 2, reason: #"only plain and quoted scalar values are supported here, not "|""#)),
        Invalid(files: ["docker: quay.io\n"], error: SignatureStorageError(file: "0.yaml", line: 1, reason: "docker: must be a mapping of scopes")),
        Invalid(
            files: ["default-docker:\n  lookaside: \"unclosed\n"],
            error: SignatureStorageError(file: "0.yaml", line: 2, reason: "a quoted value is not closed on its line")),
    ]

    @Test("errors name the file and the line", arguments: invalid)
    func invalidFiles(_ row: Invalid) {
        #expect(throws: row.error) {
            try Self.configuration(row.files.enumerated().map { ("\($0.offset).yaml", $0.element) })
        }
    }
}
