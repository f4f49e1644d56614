import ImageReference
import RegistryMirrors
import Testing

@Suite("registries.conf")
struct RegistriesConfTests {
    /// The man page's example, with the keys hocker reads and some it leaves alone.
    static let example = #"""
        # containers-registries.conf(5)
        unqualified-search-registries = ["example.com", 'quay.io',]
        short-name-mode = "permissive"
        credential-helpers = [
          "containers-auth.json",  # the default
        ]

        [[registry]]
        prefix = "example.com/foo"
        insecure = false
        blocked = false
        location = "internal-registry-for-example.com/bar"

        [[registry.mirror]]
        location = "example-mirror-0.local/mirror-for-foo"

        [[registry.mirror]]
        location = "example-mirror-1.local/mirrors/foo"
        insecure = true
        pull-from-mirror = "digest-only"

        [[registry]]
        location = "registry.com"

        [[registry.mirror]]
        location = "mirror.registry.com"

        [aliases]
          "fedora" = "registry.fedoraproject.org/fedora"
          "opensuse/leap" = "registry.opensuse.org/opensuse/leap"
        """#

    @Test("the man page's example")
    func manPageExample() throws {
        let configuration = try RegistriesConfiguration(parsing: Self.example, path: "registries.conf")
        #expect(configuration.registries.count == 2)
        let foo = configuration.registries[0]
        #expect(foo.prefix == "example.com/foo")
        #expect(foo.location == "internal-registry-for-example.com/bar")
        #expect(foo.origin == "registries.conf:8")
        #expect(foo.mirrors.map(\.location) == ["example-mirror-0.local/mirror-for-foo", "example-mirror-1.local/mirrors/foo"])
        #expect(foo.mirrors.map(\.insecure) == [false, true])
        #expect(foo.mirrors.map(\.pullFrom) == [.all, .digestOnly])
        #expect(foo.mirrors[1].origin == "registries.conf:17")
        #expect(configuration.registries[1].prefix == "registry.com")
        #expect(configuration.registries[1].mirrors.map(\.location) == ["mirror.registry.com"])
    }

    struct PlanCase: Sendable, CustomTestStringConvertible {
        var image: String
        var expected: [String]
        var runMirrors: [String] = []
        var testDescription: String { image }
    }

    static let planCases: [PlanCase] = [
        // The man page: both mirrors, then the location, for a tag (the digest-only one is left out).
        PlanCase(image: "example.com/foo/image:latest", expected: [
            "example-mirror-0.local/mirror-for-foo/image:latest", "internal-registry-for-example.com/bar/image:latest",
        ]),
        PlanCase(image: "example.com/foo/image@sha256:" + String(repeating: "a", count: 64), expected: [
            "example-mirror-0.local/mirror-for-foo/image@sha256:" + String(repeating: "a", count: 64),
            "example-mirror-1.local/mirrors/foo/image@sha256:" + String(repeating: "a", count: 64),
            "internal-registry-for-example.com/bar/image@sha256:" + String(repeating: "a", count: 64),
        ]),
        PlanCase(image: "registry.com/image:1", expected: ["mirror.registry.com/image:1", "registry.com/image:1"]),
        // `example.com/foobar` is not under `example.com/foo`.
        PlanCase(image: "example.com/foobar/x:1", expected: ["example.com/foobar/x:1"]),
        // --mirror with a path: docker.io/library/x under it, before the configured mirrors.
        PlanCase(image: "docker.io/library/debian:12", expected: ["mirror.example/dockerhub/library/debian:12", "docker.io/library/debian:12"],
                 runMirrors: ["mirror.example/dockerhub"]),
        PlanCase(image: "registry.com/image:1", expected: ["m.local:5000/image:1", "mirror.registry.com/image:1", "registry.com/image:1"],
                 runMirrors: ["m.local:5000/"]),
    ]

    @Test("sources in order", arguments: planCases)
    func plan(_ planCase: PlanCase) throws {
        let configuration = try RegistriesConfiguration(parsing: Self.example, path: "registries.conf")
        let plan = try PullPlan(
            image: try ImageReference(parsing: planCase.image), runMirrors: try PullPlan.mirrors(parsing: planCase.runMirrors, origin: "--mirror"),
            configuration: configuration, byDigest: planCase.image.contains("@"), insecure: false)
        #expect(plan.sources.map(\.image.description) == planCase.expected)
        #expect(plan.sources.last?.isMirror == false)
        #expect(plan.sources.dropLast().allSatisfy { $0.isMirror })
    }

    @Test("the longest prefix wins; a wildcard matches subdomains; a drop-in replaces a prefix")
    func prefixes() throws {
        let base = try RegistriesConfiguration(parsing: """
            [[registry]]
            location = "docker.io"
            [[registry.mirror]]
            location = "hub-mirror.local"

            [[registry]]
            prefix = "docker.io/library"
            location = "docker.io/library"
            [[registry.mirror]]
            location = "library-mirror.local/lib"

            [[registry]]
            prefix = "*.corp.example"
            insecure = true
            [[registry.mirror]]
            location = "corp-mirror.local"
            """, path: "a.conf")
        func sources(_ image: String, _ configuration: RegistriesConfiguration) throws -> [String] {
            try PullPlan(image: try ImageReference(parsing: image), runMirrors: [], configuration: configuration, byDigest: false, insecure: false)
                .sources.map(\.image.description)
        }
        #expect(try sources("debian:12", base) == ["library-mirror.local/lib/debian:12", "docker.io/library/debian:12"])
        #expect(try sources("grafana/grafana:1", base) == ["hub-mirror.local/grafana/grafana:1", "docker.io/grafana/grafana:1"])
        #expect(try sources("a.b.corp.example/team/app:1", base) == ["corp-mirror.local/team/app:1", "a.b.corp.example/team/app:1"])
        let plan = try PullPlan(
            image: try ImageReference(parsing: "a.corp.example/x:1"), runMirrors: [], configuration: base, byDigest: false, insecure: false)
        // `insecure` of a [[registry]] is its own; each mirror has its own.
        #expect(plan.sources.map(\.insecure) == [false, true])
        let dropIn = try RegistriesConfiguration(parsing: """
            [[registry]]
            prefix = "docker.io/library"
            location = "docker.io/library"
            blocked = true
            """, path: "b.conf")
        let merged = base.merging(dropIn)
        #expect(merged.registries.count == 3)
        #expect(throws: PullSourceError.blocked(image: "docker.io/library/debian:12", origin: "b.conf:1")) {
            try sources("debian:12", merged)
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int?
        var reason: String
        var testDescription: String { reason }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\ninsecure = yes", line: 3, reason: "'yes' is not a TOML value; write true or false (lowercase, unquoted)"),
        ErrorCase(text: "[[registry]]\nlocation = a.example", line: 2, reason: "'a.example' is not a value this file takes; quote strings: \"a.example\""),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example", line: 2, reason: "a string is not closed with '\"' on its line"),
        ErrorCase(text: "[[registry]\nlocation = \"a\"", line: 1, reason: "expected ']]' to close the table header 'registry'"),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\nlocation = \"b.example\"", line: 3, reason: "'registry.location' is set twice"),
        ErrorCase(text: "[aliases]\n[aliases]", line: 2, reason: "the table [aliases] is defined twice"),
        ErrorCase(text: "[[registry]]\ninsecure = true", line: 1, reason: "a [[registry]] needs a location (or a prefix)"),
        ErrorCase(text: "[registry]\nlocation = \"a.example\"", line: 1, reason: "'registry' is a table; each registry is a [[registry]] table (two brackets)"),
        ErrorCase(text: "[[registry]]\nlocation = \"https://a.example\"", line: 2, reason: "location 'https://a.example' has a scheme; write host[:port][/path] (plain http: insecure = true)"),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"tags\"", line: 5, reason: "pull-from-mirror is 'tags'; it takes all, digest-only or tag-only"),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"tag-only\"", line: 6, reason: "pull-from-mirror cannot be set where the registry has mirror-by-digest-only = true; keep one of the two"),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\ninsecure = true", line: 3, reason: "a [[registry.mirror]] needs a location"),
        ErrorCase(text: "[[registry]]\nlocation = 5", line: 2, reason: "'location' is a number; it takes a string in quotes"),
        ErrorCase(text: "[[registry]]\nlocation = \"a.example\"\ninsecure = \"true\"", line: 3, reason: "'insecure' is a string; it takes true or false"),
        ErrorCase(text: "[[registry]]\nprefix = \"*.a.example/x\"\nlocation = \"b.example\"", line: 2, reason: "the prefix '*.a.example/x' has a wildcard; only '*.domain' is allowed, with no port, path or second '*'"),
        ErrorCase(text: "x = \"\"\"\nmulti\n\"\"\"", line: 1, reason: "multi-line strings (\"\"\") are not supported here; write the value on one line"),
        ErrorCase(text: "x = [\"a\" \"b\"]", line: 1, reason: "expected ',' or ']' in an array"),
        ErrorCase(text: "x = \"a\" y = 1", line: 1, reason: "unexpected 'y' after the value; one key = value per line"),
        ErrorCase(text: "x = \"bad \\q escape\"", line: 1, reason: "'\\q' is not an escape TOML knows; write '\\\\' for a backslash, or use a 'literal string'"),
    ]

    @Test("errors name the line and say what to do", arguments: errorCases)
    func errors(_ errorCase: ErrorCase) {
        #expect(throws: RegistriesConfError(path: "f.conf", line: errorCase.line, reason: errorCase.reason)) {
            try RegistriesConfiguration(parsing: errorCase.text, path: "f.conf")
        }
    }

    struct ValueCase: Sendable, CustomTestStringConvertible {
        var text: String
        var value: TOMLValue
        var testDescription: String { text }
    }

    static let valueCases: [ValueCase] = [
        ValueCase(text: #"x = "a\tb\u00e9\"""#, value: .string("a\tb\u{e9}\"")),
        ValueCase(text: #"x = 'C:\no\escape'"#, value: .string(#"C:\no\escape"#)),
        ValueCase(text: "x = true # comment", value: .bool(true)),
        ValueCase(text: "x = 1_000", value: .integer(1000)),
        ValueCase(text: "x = [\n  \"a\", # one\n  \"b\",\n]", value: .array([.string("a"), .string("b")])),
        ValueCase(text: "x = []", value: .array([])),
    ]

    @Test("values", arguments: valueCases)
    func values(_ valueCase: ValueCase) throws {
        #expect(try TOMLSubset.parse(valueCase.text)["x"] == valueCase.value)
    }

    @Test("quoted, dotted keys and inline tables parse")
    func keys() throws {
        let document = try TOMLSubset.parse("""
            "quoted key" = 1
            a.b = "c"
            t = { k = "v", n = 2 }
            [x."y.z"]
            w = false
            """)
        #expect(document["quoted key"] == .integer(1))
        guard case .table(let a)? = document["a"], case .table(let t)? = document["t"], case .table(let x)? = document["x"], case .table(let yz)? = x["y.z"] else {
            Issue.record("tables missing: \(document)")
            return
        }
        #expect(a["b"] == .string("c"))
        #expect(t["k"] == .string("v"))
        #expect(yz["w"] == .bool(false))
    }

    @Test("--mirror values", arguments: [
        ("mirror.example", "mirror.example"), ("mirror.example:5000/", "mirror.example:5000"), ("m.example/a/b", "m.example/a/b"),
    ])
    func mirrorValues(_ given: String, _ location: String) throws {
        #expect(try PullPlan.mirrors(parsing: [given], origin: "--mirror").map(\.location) == [location])
    }

    @Test("--mirror values that are refused", arguments: ["http://mirror.example", "mirror.example//x", "-bad"])
    func badMirrorValues(_ given: String) {
        #expect(throws: PullSourceError.self) { try PullPlan.mirrors(parsing: [given], origin: "--mirror") }
    }
}
