import Foundation
import RegistryTestBed
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real binaries against real registries behind a ``FaultProxy``: every
/// fault is survived with the correct bytes, or refused with a clear message
/// — and either way the output directory holds nothing half-written.
@Suite("Faults", .faultRegistries, .enabled(if: Integration.enabled, Integration.skipReason), .timeLimit(.minutes(5)))
struct FaultTests {
    // MARK: Running commands through the proxy

    /// The command a scenario runs.
    enum Command: Sendable, Equatable, CustomStringConvertible {
        case image(jobs: Int)
        case layer
        case config
        case manifest
        /// `docker2nix --format hocker`: reads the config for the platform.
        case pin

        var tool: String {
            switch self {
            case .image: "hocker-image"
            case .layer: "hocker-layer"
            case .config: "hocker-config"
            case .manifest: "hocker-manifest"
            case .pin: "docker2nix"
            }
        }

        var outputName: String {
            switch self {
            case .image: "image.tar"
            case .layer: "layer.tar.gz"
            case .config: "config.json"
            case .manifest: "manifest.json"
            case .pin: "image.nix"
            }
        }

        var description: String { tool }
    }

    /// Which registry a scenario's proxy fronts.
    enum Upstream: Sendable {
        case open
        case token

        func registry(_ fixture: FaultFixture) -> TestRegistry { self == .open ? fixture.open : fixture.token }
        func image(_ fixture: FaultFixture) -> PushedImage { self == .open ? fixture.small : fixture.publicImage }
    }

    struct Outcome {
        var result: ProcessResult
        var elapsed: Duration
        var directory: String
        var output: String
    }

    /// Runs `command` for the small image through `proxy`, writing into a fresh directory.
    static func run(
        _ command: Command, through proxy: FaultProxy, image: PushedImage, layer: String? = nil, arguments: [String] = [],
        environment: [String: String] = [:], in directory: String
    ) async throws -> Outcome {
        let output = "\(directory)/\(command.outputName)"
        var argv = ["--out=\(output)", "--registry", proxy.v2URL] + arguments
        switch command {
        case .image(let jobs): argv += ["--jobs", "\(jobs)", "--progress", "none", image.repository, image.tag]
        case .layer: argv += ["--layer", layer ?? image.single.layerDigests[0], image.repository, "unused"]
        case .config, .manifest: argv += [image.repository, image.tag]
        case .pin: argv += ["--format", "hocker", image.repository, image.tag]
        }
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await HockerBinary.run(command.tool, argv, environment: environment)
        return Outcome(result: result, elapsed: result.duration ?? clock.now - started, directory: directory, output: output)
    }

    /// Checks the output is exactly what the registry holds.
    static func expectCorrectOutput(_ command: Command, _ outcome: Outcome, image: PushedImage, layer: String? = nil) async throws {
        switch command {
        case .image:
            try await ArchiveChecks.layersMatchDiffIDs(
                archive: outcome.output, configDigest: image.single.configDigest, layerDigests: image.single.layerDigests)
        case .layer:
            #expect(try sha256Digest(file: outcome.output) == layer ?? image.single.layerDigests[0])
        case .config:
            #expect(try sha256Digest(file: outcome.output) == image.single.configDigest)
        case .manifest:
            #expect(try sha256Digest(file: outcome.output) == image.single.digest)
        case .pin:
            let text = try String(contentsOfFile: outcome.output, encoding: .utf8)
            #expect(text.contains("manifestDigest = \"\(image.single.digest)\""))
            #expect(text.contains("digest = \"\(image.single.configDigest)\""))
        }
    }

    /// No temporary or partial file: the directory holds the output when the command succeeded, else nothing.
    static func expectNoLeftovers(_ outcome: Outcome, succeeded: Bool) {
        let expected = succeeded ? [URL(fileURLWithPath: outcome.output).lastPathComponent] : []
        #expect(Scratch.contents(outcome.directory) == expected, "left behind: \(Scratch.contents(outcome.directory))")
    }

    // MARK: Survived

    struct Survival: Sendable, CustomTestStringConvertible {
        var name: String
        var upstream: Upstream = .open
        var command: Command = .image(jobs: 4)
        var arguments: [String] = []
        var setUp: @Sendable (FaultProxy, FaultFixture) -> Void
        var check: @Sendable (FaultProxy, FaultFixture, Outcome) -> Void = { _, _, _ in }
        var testDescription: String { name }
    }

    /// N from `Range: bytes=N-` or `bytes=N-END`.
    static func resumeOffset(_ range: String) -> Int? {
        guard range.hasPrefix("bytes="), let dash = range.firstIndex(of: "-") else { return nil }
        return Int(range[range.index(range.startIndex, offsetBy: "bytes=".count)..<dash])
    }

    static func blobGETs(_ proxy: FaultProxy, _ digest: String) -> [ProxiedRequest] {
        proxy.requests.filter { $0.method == "GET" && $0.path.hasSuffix("/blobs/\(digest)") }
    }

    static let survivals: [Survival] = [
        Survival(
            name: "connection reset after 100 kB of a layer, twice",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .resetAfter(bytes: 100_000), times: 2) },
            check: { proxy, fixture, _ in
                let layer = fixture.bigLayer
                // An RST may discard bytes in flight, so each resume starts at or before the cut.
                let starts = blobGETs(proxy, layer.digest).compactMap { $0.range.flatMap(resumeOffset) }
                #expect(starts.count == 2 && starts[0] <= 100_000 && starts[0] < starts[1] && starts[1] <= starts[0] + 100_000, "\(starts)")
                #expect(proxy.bytesServed(blob: layer.digest) < Int64(Double(layer.size) * 1.5))
            }),
        Survival(
            name: "a resume answered with 200 (range ignored) restarts from zero",
            setUp: { proxy, fixture in
                proxy.add(.blobGET(fixture.bigLayer.digest), .resetAfter(bytes: 100_000), times: 1)
                proxy.add(.blobGET(fixture.bigLayer.digest), .ignoreRange)
            },
            check: { proxy, fixture, _ in
                let answers = blobGETs(proxy, fixture.bigLayer.digest)
                #expect(answers.count == 2 && answers[0].range == nil && answers[1].range.flatMap(resumeOffset) != nil)
                #expect(answers.last?.status == 200)
                #expect(proxy.bytesServed(blob: fixture.bigLayer.digest) >= Int64(fixture.bigLayer.size))
            }),
        Survival(
            name: "body cut short under its Content-Length, twice (hocker-layer)", command: .layer,
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .truncateAfter(bytes: 120_000), times: 2) },
            check: { proxy, fixture, _ in
                // The first answer's Content-Length gives the length, so each resume names its end.
                let end = fixture.bigLayer.size - 1
                #expect(blobGETs(proxy, fixture.bigLayer.digest).compactMap(\.range) == ["bytes=120000-\(end)", "bytes=240000-\(end)"])
            }),
        Survival(
            name: "manifest body dropped after 100 bytes, once", command: .manifest,
            setUp: { proxy, _ in proxy.add(.manifestGETs, .resetAfter(bytes: 100), times: 1) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.kind == .manifest }.count == 2) }),
        Survival(
            name: "429 with Retry-After: 2 (seconds)", command: .config,
            setUp: { proxy, _ in proxy.add(.manifestGETs, .tooManyRequests(.seconds(2)), times: 1) },
            check: { _, _, outcome in #expect(outcome.elapsed >= .seconds(2)) }),
        Survival(
            name: "429 with Retry-After as an HTTP-date 3 s ahead", command: .config,
            setUp: { proxy, _ in proxy.add(.blobGETs, .tooManyRequests(.httpDate(secondsFromNow: 3)), times: 1) },
            check: { _, _, outcome in #expect(outcome.elapsed >= .milliseconds(1500)) }),
        Survival(
            name: "config body dropped after 10 bytes, once (docker2nix --format hocker)", command: .pin,
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.small.single.configDigest), .resetAfter(bytes: 10), times: 1) },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.small.single.configDigest).count == 2) }),
        Survival(
            name: "500 for the first 2 blob requests",
            setUp: { proxy, _ in proxy.add(.blobGETs, .respond(status: 500), times: 2) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.status == 500 }.count == 2) }),
        Survival(
            name: "502 for the first 2 manifest requests",
            setUp: { proxy, _ in proxy.add(.manifestGETs, .respond(status: 502), times: 2) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.status == 502 }.count == 2) }),
        Survival(
            name: "503 for the first 3 requests of any kind", command: .layer,
            setUp: { proxy, _ in proxy.add(.everything, .respond(status: 503), times: 3) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.status == 503 }.count == 3) }),
        Survival(
            // The retry gets as long as the stall did: on a loaded machine 5 s was not always enough for a real answer.
            name: "stall 20 s before the headers, once (--timeout 8)", command: .layer, arguments: ["--timeout", "8"],
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .stallBeforeHeaders(.seconds(20)), times: 1) },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.bigLayer.digest).count >= 2) }),
        Survival(
            name: "stall 20 s after 100 kB of the body, once (--timeout 8)", arguments: ["--timeout", "8"],
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .stallAfter(bytes: 100_000, .seconds(20)), times: 1) },
            check: { proxy, fixture, _ in
                // Whether the 100 kB already read reach the body's reader before the timeout does is up to the
                // HTTP client, so the second request may resume or restart; either way the bytes are right.
                #expect(blobGETs(proxy, fixture.bigLayer.digest).count >= 2)
            }),
        Survival(
            name: "size unknown, all bytes then the connection drops: no range past the end", command: .layer,
            setUp: { proxy, fixture in
                proxy.add(.blobGET(fixture.bigLayer.digest), .chunkedThenCloseAfter(bytes: Int64(fixture.bigLayer.size)), times: 1)
            },
            check: { proxy, _, _ in
                #expect(!proxy.requests.contains { $0.status == 416 })
                // The length asked with a GET of the first byte, not a HEAD.
                #expect(proxy.requests.contains { $0.method == "GET" && $0.kind == .blob && $0.range == "bytes=0-0" })
                #expect(!proxy.requests.contains { $0.method == "HEAD" && $0.kind == .blob })
            }),
        Survival(
            name: "blobs redirected to another host name: Authorization not sent there", upstream: .token,
            setUp: { proxy, _ in proxy.add(.blobGETs, .redirectToAlternateHost) },
            check: { proxy, _, _ in
                let redirected = proxy.requests.filter { $0.listener == .alternate }
                #expect(redirected.count == 4)  // config and three layers
                #expect(redirected.allSatisfy { $0.authorization == nil })
                #expect(proxy.requests.filter { $0.kind == .blob && $0.status == 307 }.allSatisfy { $0.authorization != nil })
            }),
        Survival(
            name: "token endpoint answers 503 twice", upstream: .token, command: .config,
            setUp: { proxy, _ in proxy.add(.tokenRequests, .respond(status: 503), times: 2) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.kind == .token }.count == 3) }),
        Survival(
            name: "tokens expire after one use (hocker-config)", upstream: .token, command: .config,
            setUp: { proxy, _ in proxy.setTokenFault(.singleUse) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.kind == .token }.count == 2) }),
        Survival(
            name: "tokens expire after one use (hocker-image --jobs 1)", upstream: .token, command: .image(jobs: 1),
            setUp: { proxy, _ in proxy.setTokenFault(.singleUse) },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.kind == .token }.count == 5) }),
    ]

    @Test("survived with the correct bytes", arguments: survivals)
    func survives(_ scenario: Survival) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("fault")
        defer { Scratch.remove(directory) }
        let image = scenario.upstream.image(fixture)
        try await withFaultProxy(in: scenario.upstream.registry(fixture)) { proxy in
            scenario.setUp(proxy, fixture)
            let outcome = try await Self.run(scenario.command, through: proxy, image: image, arguments: scenario.arguments, in: directory)
            #expect(outcome.result.status == 0, "\(outcome.result.stderrText)")
            guard outcome.result.status == 0 else { return }
            try await Self.expectCorrectOutput(scenario.command, outcome, image: image)
            Self.expectNoLeftovers(outcome, succeeded: true)
            scenario.check(proxy, fixture, outcome)
            Self.report(scenario.name, outcome, proxy: proxy)
        }
    }

    /// A line per scenario for the suite's log (the closing note's table).
    static func report(_ name: String, _ outcome: Outcome, proxy: FaultProxy) {
        let failure = FailureOutput(outcome.result.stderrText)
        let retries = failure.retries.isEmpty ? "" : " after \(failure.retries.count) announced retries"
        let verdict = outcome.result.status == 0 ? "survived, correct bytes\(retries)" : "exit \(outcome.result.status)\(retries): \(failure.errorLine)"
        print("fault scenario | \(name) | \(verdict) | \(proxy.requests.count) requests, \(proxy.totalBytesServed) body bytes, \(outcome.elapsed)")
    }

    // MARK: Refused

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var upstream: Upstream = .open
        var command: Command = .image(jobs: 4)
        var arguments: [String] = ["--retries", "2"]
        var setUp: @Sendable (FaultProxy, FaultFixture) -> Void
        var mentions: @Sendable (FaultProxy, FaultFixture) -> [String]
        var check: @Sendable (FaultProxy, FaultFixture, Outcome) -> Void = { _, _, _ in }
        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(
            name: "a flipped byte in a layer",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .flipByte(at: 12_345)) },
            mentions: { _, fixture in
                ["digest mismatch for blob \(fixture.bigLayer.digest)", "expected \(fixture.bigLayer.digest), got sha256:"]
            }),
        Refusal(
            name: "503 on every blob request (--retries 2)",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .respond(status: 503)) },
            mentions: { _, fixture in ["gave up on", "/blobs/\(fixture.bigLayer.digest)", "after 3 attempts", "HTTP 503"] },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.bigLayer.digest).count == 3) }),
        Refusal(
            name: "503 forever within --max-time 5 (--retries 100)", arguments: ["--retries", "100", "--max-time", "5"],
            setUp: { proxy, _ in proxy.add(.blobGETs, .respond(status: 503)) },
            mentions: { _, _ in ["gave up on", "within the time limit of 5 s", "--max-time"] },
            // Without the limit, a hundred retries would back off for many minutes; the margin is for a loaded machine.
            check: { _, _, outcome in #expect(outcome.elapsed < .seconds(15)) }),
        Refusal(
            name: "400 is not retried",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .respond(status: 400)) },
            mentions: { _, _ in ["unexpected HTTP 400"] },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.bigLayer.digest).count == 1) }),
        Refusal(
            name: "403 is not retried",
            setUp: { proxy, fixture in
                proxy.add(.blobGET(fixture.bigLayer.digest), .respond(status: 403, body: #"{"errors":[{"code":"DENIED","message":"no"}]}"#))
            },
            mentions: { _, _ in ["denied: fault/small", "DENIED: no"] },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.bigLayer.digest).count == 1) }),
        Refusal(
            name: "404 is not retried",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .respond(status: 404)) },
            mentions: { _, fixture in ["blob unknown: \(fixture.bigLayer.digest) in fault/small"] },
            check: { proxy, fixture, _ in #expect(blobGETs(proxy, fixture.bigLayer.digest).count == 1) }),
        Refusal(
            name: "401 mid-pull: one fresh token, then an auth error", upstream: .token,
            setUp: { proxy, _ in proxy.setTokenFault(.rejectAfter(requests: 1)) },
            mentions: { _, _ in ["unauthorized: public/small", "access denied to an anonymous client"] },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.kind == .token }.count == 2) }),
        Refusal(
            name: "a body that stalls every time (--timeout 1)", command: .layer, arguments: ["--timeout", "1", "--retries", "1"],
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .stallAfter(bytes: 50_000, .seconds(30))) },
            mentions: { _, _ in ["gave up on", "no data for too long (read timeout)"] }),
        Refusal(
            name: "a body cut short every time",
            setUp: { proxy, fixture in proxy.add(.blobGET(fixture.bigLayer.digest), .truncateAfter(bytes: 1_000)) },
            mentions: { _, fixture in
                ["gave up on", "/blobs/\(fixture.bigLayer.digest)", "after 3 attempts: the connection closed before the whole body arrived"]
            },
            check: { proxy, fixture, _ in
                // Each attempt resumed where the last one stopped.
                let end = fixture.bigLayer.size - 1
                #expect(blobGETs(proxy, fixture.bigLayer.digest).compactMap(\.range) == ["bytes=1000-\(end)", "bytes=2000-\(end)"])
            }),
        Refusal(
            name: "a 206 for another range than asked",
            setUp: { proxy, fixture in
                proxy.add(.blobGET(fixture.bigLayer.digest), .resetAfter(bytes: 100_000), times: 1)
                proxy.add(.blobGET(fixture.bigLayer.digest), .shiftRange(by: 10))
            },
            mentions: { _, fixture in
                ["unexpected HTTP 206 from", "/blobs/\(fixture.bigLayer.digest)", "Content-Range does not start at byte"]
            }),
        Refusal(
            name: "a redirect loop",
            setUp: { proxy, _ in proxy.add(.blobGETs, .redirectLoop) },
            mentions: { _, _ in ["the registry redirected in a loop"] }),
        Refusal(
            name: "token endpoint answers 500 every time", upstream: .token, command: .manifest,
            setUp: { proxy, _ in proxy.add(.tokenRequests, .respond(status: 500)) },
            mentions: { proxy, _ in ["token request to \(proxy.baseURL)/token failed with HTTP 500: after 3 attempts"] }),
        Refusal(
            name: "a layer longer than the manifest says",
            setUp: { proxy, fixture in
                let manifest = editedManifest(fixture.small.single.bytes) { json in
                    var layers = json["layers"] as! [[String: Any]]
                    layers[0]["size"] = fixture.bigLayer.size - 1
                    json["layers"] = layers
                }
                proxy.add(.manifestGETs, .serve(body: manifest, contentType: fixture.small.mediaType))
            },
            mentions: { _, fixture in
                ["size mismatch for blob \(fixture.bigLayer.digest): expected \(fixture.bigLayer.size - 1) bytes, got \(fixture.bigLayer.size)"]
            }),
    ]

    @Test("refused with a clear message, nothing left behind", arguments: refusals)
    func refuses(_ scenario: Refusal) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("fault")
        defer { Scratch.remove(directory) }
        let image = scenario.upstream.image(fixture)
        try await withFaultProxy(in: scenario.upstream.registry(fixture)) { proxy in
            scenario.setUp(proxy, fixture)
            let outcome = try await Self.run(scenario.command, through: proxy, image: image, arguments: scenario.arguments, in: directory)
            #expect(outcome.result.status == 1, "\(outcome.result.stderrText)")
            // Every retry was announced before the error: one line each.
            let failure = FailureOutput(outcome.result.stderrText)
            #expect(failure.isWellFormed, "\(outcome.result.stderrText)")
            for mention in scenario.mentions(proxy, fixture) {
                #expect(outcome.result.stderrText.contains(mention), "expected '\(mention)' in: \(outcome.result.stderrText)")
            }
            #expect(outcome.result.stdout.isEmpty)
            Self.expectNoLeftovers(outcome, succeeded: false)
            scenario.check(proxy, fixture, outcome)
            Self.report(scenario.name, outcome, proxy: proxy)
        }
    }

    /// The manifest bytes with `edit` applied to their JSON.
    static func editedManifest(_ bytes: Data, _ edit: (inout [String: Any]) -> Void) -> Data {
        var json = (try? JSONSerialization.jsonObject(with: bytes) as? [String: Any]) ?? [:]
        edit(&json)
        return (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
    }

    // MARK: What a registry serves

    struct ServedManifest: Sendable, CustomTestStringConvertible {
        var name: String
        var body: @Sendable (PushedImage) -> Data
        var contentType = "application/vnd.oci.image.manifest.v1+json"
        var chunked = false
        var mentions: [String]
        var testDescription: String { name }
    }

    static func withLayer(_ key: String, _ value: any Sendable) -> @Sendable (PushedImage) -> Data {
        { image in
            editedManifest(image.single.bytes) { json in
                var layers = json["layers"] as! [[String: Any]]
                layers[0][key] = value
                json["layers"] = layers
            }
        }
    }

    static let oversized = Data(#"{"schemaVersion":2,"pad":""#.utf8) + Data(repeating: UInt8(ascii: "x"), count: 5 << 20) + Data(#""}"#.utf8)

    static let servedManifests: [ServedManifest] = [
        ServedManifest(
            name: "not JSON", body: { _ in Data("<html><body>Service Unavailable</body></html>".utf8) }, contentType: "text/html",
            mentions: ["invalid manifest: the document is not a JSON manifest"]),
        ServedManifest(name: "a negative layer size", body: withLayer("size", -5), mentions: ["invalid manifest", "negative size (-5)"]),
        ServedManifest(name: "a layer size that is a string", body: withLayer("size", "300"), mentions: ["invalid manifest", "layers[0].size"]),
        ServedManifest(
            name: "a digest that is a path", body: withLayer("digest", "sha256:../../../etc/passwd"),
            mentions: ["invalid manifest", "invalid digest 'sha256:../../../etc/passwd'"]),
        ServedManifest(
            name: "a truncated sha256 digest", body: withLayer("digest", "sha256:abcd"), mentions: ["invalid manifest", "invalid digest 'sha256:abcd'"]),
        ServedManifest(
            name: "an unknown media type",
            body: { image in editedManifest(image.single.bytes) { $0["mediaType"] = "application/vnd.example.unknown+json" } },
            mentions: ["unsupported manifest type application/vnd.example.unknown+json"]),
        ServedManifest(
            name: "schema 1", body: { _ in Data(#"{"schemaVersion":1,"name":"fault/small","tag":"v1","fsLayers":[]}"#.utf8) },
            contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws",
            mentions: ["/fault/small:v1 is a Docker schema 1 image", "push the image again", "skopeo copy --format v2s2"]),
        ServedManifest(name: "5 MiB with Content-Length", body: { _ in oversized }, mentions: ["manifest refused: larger than 4 MiB"]),
        ServedManifest(name: "5 MiB chunked", body: { _ in oversized }, chunked: true, mentions: ["manifest refused: larger than 4 MiB"]),
    ]

    @Test("a bad manifest from the registry is refused (exit 1)", arguments: servedManifests)
    func badManifest(_ served: ServedManifest) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("fault")
        defer { Scratch.remove(directory) }
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(.manifestGETs, .serve(body: served.body(fixture.small), contentType: served.contentType, chunked: served.chunked))
            let outcome = try await Self.run(.image(jobs: 4), through: proxy, image: fixture.small, in: directory)
            #expect(outcome.result.status == 1, "\(outcome.result.stderrText)")
            for mention in served.mentions {
                #expect(outcome.result.stderrText.contains(mention), "expected '\(mention)' in: \(outcome.result.stderrText)")
            }
            // Refused before any blob was asked for.
            #expect(!proxy.requests.contains { $0.kind == .blob })
            Self.expectNoLeftovers(outcome, succeeded: false)
            Self.report("served manifest: \(served.name)", outcome, proxy: proxy)
        }
    }

    // MARK: A 200 MB blob interrupted three times

    @Test("a 200 MB blob cut three times resumes: correct file, < 1.5x the bytes")
    func bigBlobResumes() async throws {
        let fixture = try FaultFixture.shared
        let built = try await TestImageBuilder().build(
            tag: "v1", layers: [TestLayerSpec(seed: "fault-200MB", approximateSize: 200_000_000, fileCount: 1)])
        defer { built.remove() }
        let image = try await fixture.open.push(built, repository: "fault/big", tag: "v1")
        let layer = image.single.layers[0]
        let directory = try Scratch.directory("fault-big")
        defer { Scratch.remove(directory) }
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(.blobGET(layer.digest), .resetAfter(bytes: Int64(layer.size / 4)), times: 3)
            // hocker-layer knows no size from a manifest: it learns it from the registry.
            let outcome = try await Self.run(.layer, through: proxy, image: image, layer: layer.digest, in: directory)
            #expect(outcome.result.status == 0, "\(outcome.result.stderrText)")
            #expect(try sha256Digest(file: outcome.output) == layer.digest)
            Self.expectNoLeftovers(outcome, succeeded: true)
            let fetched = proxy.bytesServed(blob: layer.digest)
            let ranges = Self.blobGETs(proxy, layer.digest).map { $0.range ?? "(whole)" }
            #expect(ranges.count == 4, "\(ranges)")
            #expect(Double(fetched) < Double(layer.size) * 1.5)
            print(
                "fault scenario | 200 MB blob cut 3 times | survived, correct bytes | blob \(layer.size) bytes, fetched \(fetched) "
                    + "(\(String(format: "%.3f", Double(fetched) / Double(layer.size)))x), requests \(ranges), \(outcome.elapsed)")
        }
    }
}

// MARK: - Interrupted by a signal

extension FaultTests {
    struct Interruption: Sendable, CustomTestStringConvertible {
        var command: Command
        var signal: Int32
        /// Without `--out` (hocker-layer to stdout): the temporary file lives in TMPDIR.
        var toStdout = false
        var testDescription: String {
            "\(command.tool)\(toStdout ? " to stdout" : "") \(signal == SIGINT ? "SIGINT" : "SIGTERM")"
        }
    }

    static let interruptions: [Interruption] = [
        Interruption(command: .image(jobs: 4), signal: SIGINT),
        Interruption(command: .image(jobs: 4), signal: SIGTERM),
        Interruption(command: .layer, signal: SIGINT),
        Interruption(command: .layer, signal: SIGTERM),
        Interruption(command: .layer, signal: SIGTERM, toStdout: true),
        // The config it reads for the image's platform is read into memory: nothing to remove, nothing written.
        Interruption(command: .pin, signal: SIGINT),
    ]

    @Test("a signal mid-transfer: temporary file removed, target untouched, exit 128+signal", arguments: interruptions)
    func interrupted(_ case_: Interruption) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("fault-signal")
        let temporaryDirectory = try Scratch.directory("fault-tmp")
        defer {
            Scratch.remove(directory)
            Scratch.remove(temporaryDirectory)
        }
        let target = "\(directory)/\(case_.command.outputName)"
        let previous = Data("the previous content, which must survive\n".utf8)
        if !case_.toStdout { try previous.write(to: URL(fileURLWithPath: target)) }
        try await withFaultProxy(in: fixture.open) { proxy in
            let layer = fixture.bigLayer
            // The blob held mid-transfer: the config for docker2nix, which reads nothing else.
            let (held, heldAfter) = case_.command == .pin ? (fixture.small.single.configDigest, Int64(10)) : (layer.digest, Int64(100_000))
            proxy.add(.blobGET(held), .stallAfter(bytes: heldAfter, .seconds(60)))
            var argv = ["--registry", proxy.v2URL]
            if !case_.toStdout { argv.append("--out=\(target)") }
            switch case_.command {
            case .image: argv += ["--progress", "none", fixture.small.repository, fixture.small.tag]
            case .pin: argv += ["--format", "hocker", fixture.small.repository, fixture.small.tag]
            default: argv += ["--layer", layer.digest, fixture.small.repository, "unused"]
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: HockerBinary.path(case_.command.tool))
            process.arguments = argv
            // The same isolated environment as every other run, with TMPDIR watched.
            process.environment = ProcessInfo.processInfo.environment
                .merging(HockerBinary.isolatedEnvironment) { $1 }.merging(["TMPDIR": temporaryDirectory]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            // docker2nix reads a piped manifest; with /dev/null it fetches its own.
            process.standardInput = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

            // Wait until the blob is mid-transfer and the temporary file (if the command makes one) exists.
            let watched = case_.toStdout ? temporaryDirectory : directory
            let makesTemporary = case_.command != .pin
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while clock.now < deadline {
                let temporaryExists = Scratch.contents(watched).contains { $0.hasPrefix(".") && $0.contains(".hocker-") }
                if temporaryExists || !makesTemporary, proxy.bytesServed(blob: held) >= heldAfter { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(proxy.bytesServed(blob: held) >= heldAfter, "the blob is not in flight")
            if makesTemporary {
                #expect(Scratch.contents(watched).contains { $0.contains(".hocker-") }, "no temporary file appeared: \(Scratch.contents(watched))")
            }
            kill(process.processIdentifier, case_.signal)
            let exitDeadline = clock.now + .seconds(10)
            while process.isRunning && clock.now < exitDeadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!process.isRunning)
            guard !process.isRunning else { return }
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 128 + case_.signal)
            #expect(Scratch.contents(temporaryDirectory).isEmpty, "left in TMPDIR: \(Scratch.contents(temporaryDirectory))")
            if case_.toStdout {
                #expect(Scratch.contents(directory).isEmpty)
            } else {
                #expect(Scratch.contents(directory) == [case_.command.outputName], "left behind: \(Scratch.contents(directory))")
                #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == previous)
            }
            print("fault scenario | \(case_.testDescription) mid-blob | exit \(process.terminationStatus), temporary file removed, target untouched | -")
        }
    }
}
