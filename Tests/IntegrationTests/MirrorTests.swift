import Foundation
import RegistryTestBed
import Testing

/// The registries the mirror tests pull through: an open upstream holding a
/// small image, a real pull-through cache of it (distribution in proxy
/// mode), and an htpasswd and a token registry for the credential cases.
final class MirrorFixture: SuiteFixture {
    static let alice = (user: "alice", password: "alice-Mirror-Pa55word")
    static let bob = TokenUser(name: "bob", password: "bob-Mirror-Pa55word", pullPushPrefixes: ["private/"])
    /// A name that never resolves (RFC 2606): only a mirror can serve it.
    static let unresolvable = "registry.invalid"

    let upstream: TestRegistry
    /// `proxy: {remoteurl: upstream}`.
    let cache: TestRegistry
    let basic: TestRegistry
    let token: TestRegistry
    /// `mirror/app:v1` in the upstream.
    let image: PushedImage
    let basicImage: PushedImage
    let tokenImage: PushedImage
    /// The image's layout, for tests that push it under a repository of their own (and count its requests alone).
    let layout: TestImage

    private init(
        upstream: TestRegistry, cache: TestRegistry, basic: TestRegistry, token: TestRegistry, image: PushedImage,
        basicImage: PushedImage, tokenImage: PushedImage, layout: TestImage
    ) {
        self.upstream = upstream
        self.cache = cache
        self.basic = basic
        self.token = token
        self.image = image
        self.basicImage = basicImage
        self.tokenImage = tokenImage
        self.layout = layout
    }

    static func start() async throws -> MirrorFixture {
        async let upstream = TestRegistry.start(auth: .open)
        async let basic = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]))
        async let token = TestRegistry.start(auth: .token(TokenPolicy(anonymousPullPrefixes: [], users: [bob])))
        async let built = TestImageBuilder().build(
            tag: "v1",
            layers: [
                TestLayerSpec(seed: "mirror-base", approximateSize: 200_000),
                TestLayerSpec(seed: "mirror-top", approximateSize: 20_000, fileCount: 2),
            ])
        let (upstreamRegistry, basicRegistry, tokenRegistry, layout) = try await (upstream, basic, token, built)
        async let cache = TestRegistry.start(auth: .open, proxyRemoteURL: upstreamRegistry.baseURL)
        async let image = upstreamRegistry.push(layout, repository: "mirror/app", tag: "v1")
        async let basicImage = basicRegistry.push(layout, repository: "private/app", tag: "v1")
        async let tokenImage = tokenRegistry.push(layout, repository: "private/app", tag: "v1")
        return try await MirrorFixture(
            upstream: upstreamRegistry, cache: cache, basic: basicRegistry, token: tokenRegistry, image: image,
            basicImage: basicImage, tokenImage: tokenImage, layout: layout)
    }

    func stop() {
        for registry in [cache, upstream, basic, token] { registry.stop() }
        layout.remove()
    }

    @TaskLocal static var current: MirrorFixture?
    static var scope: TaskLocal<MirrorFixture?> { $current }

    /// The image under the name that does not resolve.
    var unresolvableReference: String { "\(Self.unresolvable)/\(image.repository):\(image.tag)" }
}

extension Trait where Self == SuiteFixtureTrait<MirrorFixture> {
    static var mirrors: Self { Self() }
}

/// Access-log lines of a registry, from any client (hocker, or a cache's
/// own requests upstream): `127.0.0.1 - - [date] "GET /v2/…/blobs/sha256:… HTTP/1.1" 200 …`.
enum RegistryAccessLog {
    static func lines(_ registry: TestRegistry) -> [String] {
        // Not the registry's own error lines, which quote URIs too.
        registry.log().split(separator: "\n").filter { $0.hasPrefix("127.0.0.1 - - [") }.map(String.init)
    }

    // The standard library's search, not Foundation's (which bridges every line): these run while
    // other tests' servers share the same few threads.
    static func blobGETs(_ registry: TestRegistry, repository: String) -> [String] {
        let wanted = "\"GET /v2/\(repository)/blobs/sha256:"
        return lines(registry).filter { $0.firstRange(of: wanted) != nil }
    }

    static func manifestGETs(_ registry: TestRegistry, repository: String) -> [String] {
        let wanted = "\"GET /v2/\(repository)/manifests/"
        return lines(registry).filter { $0.firstRange(of: wanted) != nil }
    }
}

@Suite("Mirrors and pull-through caches", .mirrors, .enabled(if: Integration.enabled, Integration.skipReason))
struct MirrorTests {
    /// Seconds since `start`, for the report.
    static func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.2f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// The layer and config digests of the image, as `docker load` finds them in the archive's manifest.json.
    static func archiveRepoTags(_ path: String) async throws -> [String] {
        let result = try await runProcess("/usr/bin/env", ["tar", "-xOf", path, "manifest.json"], timeout: .seconds(30))
        let entries = try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]]
        return entries?.first?["RepoTags"] as? [String] ?? []
    }

    @Test("a pull-through cache as the mirror of a name that does not resolve: cold, then warm with no blob GET upstream")
    func pullThroughCache() async throws {
        let fixture = try MirrorFixture.shared
        // A cache of its own, so that "cold" means cold whatever else runs.
        let cache = try await TestRegistry.start(auth: .open, proxyRemoteURL: fixture.upstream.baseURL)
        defer { cache.stop() }
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        // A repository of its own too, so that no other test's requests are counted.
        let image = try await fixture.upstream.push(fixture.layout, repository: "cold/app", tag: "v1")
        let repository = image.repository
        let name = "\(MirrorFixture.unresolvable)/\(repository):v1"
        let blobs = Set(image.single.layerDigests + [image.single.configDigest])
        var seen = RegistryAccessLog.blobGETs(fixture.upstream, repository: repository).count
        for round in ["cold", "warm"] {
            let out = "\(directory)/\(round).tar"
            let start = ContinuousClock.now
            let result = try await HockerBinary.run("hocker", ["image", "--mirror", cache.hostPort, "--out", out, name])
            #expect(result.status == 0, "\(round): \(result.stderrText)")
            let elapsed = Self.seconds(since: start)
            if round == "cold" {
                // distribution 2.8's proxy streams a missed blob to the client and, beside it, fetches it again to store
                // it: wait (at most 30 s) for those fetches to end, so the warm round counts only its own.
                for _ in 0..<120 {
                    if RegistryAccessLog.blobGETs(fixture.upstream, repository: repository).count - seen >= 2 * blobs.count { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            let upstream = RegistryAccessLog.blobGETs(fixture.upstream, repository: repository)
            let new = upstream.dropFirst(seen)
            seen = upstream.count
            let cacheGETs = RegistryAccessLog.blobGETs(cache, repository: repository).count
            print("mirror report: \(round) pull through the cache: \(elapsed); upstream blob GETs \(new.count) (\(blobs.count) blobs); cache blob GETs \(cacheGETs) so far")
            if round == "cold" {
                // Every blob came from upstream through the cache.
                #expect(Set(new.compactMap { line in blobs.first { line.contains("/blobs/\($0) ") } }) == blobs, "\(new)")
            } else {
                #expect(new.isEmpty, "the warm pull reached the upstream: \(new)")
            }
            #expect(try await Self.archiveRepoTags(out) == [name])
        }
        #expect(RegistryAccessLog.blobGETs(cache, repository: repository).count == 2 * blobs.count)
    }

    enum Failing: String, CaseIterable, Sendable {
        case notFound = "404"
        case serverError = "500"
    }

    @Test("a mirror that answers 404 or 500: the registry serves the pull", arguments: Failing.allCases)
    func failingMirrorFallsBack(_ failing: Failing) async throws {
        let fixture = try MirrorFixture.shared
        let proxy = try await FaultProxy.start(upstream: fixture.upstream)
        defer { proxy.stop() }
        proxy.add(.everything, .respond(status: Int(failing.rawValue)!, headers: ["Content-Type": "application/json"], body: "{\"errors\":[]}"))
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        // The registry behind a proxy that changes nothing, so that what it served is counted apart from other tests.
        let primary = try await FaultProxy.start(upstream: fixture.upstream)
        defer { primary.stop() }
        let image = fixture.image
        let reference = "\(primary.hostPort)/\(image.repository):\(image.tag)"
        let start = ContinuousClock.now
        let result = try await HockerBinary.run("hocker", ["image", "--mirror", proxy.hostPort, "--out", "\(directory)/app.tar", reference])
        let elapsed = Self.seconds(since: start)
        #expect(result.status == 0, "\(result.stderrText)")
        let served = primary.requests.filter { $0.method == "GET" && $0.kind == .blob }.count
        // The same pull with no mirror, for what the failing one cost.
        let directStart = ContinuousClock.now
        let direct = try await HockerBinary.run("hocker", ["image", "--out", "\(directory)/direct.tar", reference])
        #expect(direct.status == 0, "\(direct.stderrText)")
        let directElapsed = Self.seconds(since: directStart)
        print("mirror report: mirror answering \(failing.rawValue): pulled in \(elapsed) (\(directElapsed) without the mirror); mirror requests \(proxy.requests.count) (\(proxy.requests.map { "\($0.method) \($0.path) \($0.status)" }.joined(separator: ", "))); registry blob GETs \(served); stderr: \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        #expect(served == fixture.image.single.layerDigests.count + 1)
        // One request, not a retry budget: a broken mirror costs little.
        #expect(proxy.requests.filter { $0.kind == .manifest }.count == 1)
        #expect(result.stderrText.contains("mirror \(proxy.hostPort) (--mirror) cannot serve"))
    }

    @Test("every source failing: the message says what each answered")
    func allSourcesFail() async throws {
        let fixture = try MirrorFixture.shared
        let notFound = try await FaultProxy.start(upstream: fixture.upstream)
        defer { notFound.stop() }
        notFound.add(.everything, .respond(status: 404, headers: ["Content-Type": "application/json"], body: "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}"))
        let broken = try await FaultProxy.start(upstream: fixture.upstream)
        defer { broken.stop() }
        broken.add(.everything, .respond(status: 500, body: "boom"))
        let result = try await HockerBinary.run(
            "hocker", ["manifest", "--retries", "0", "--mirror", notFound.hostPort, "--mirror", broken.hostPort, fixture.unresolvableReference])
        #expect(result.status == 1)
        let lines = result.stderrText.split(separator: "\n").map(String.init)
        print("mirror report: all sources failing:\n\(result.stderrText)")
        let error = try #require(lines.firstIndex { $0.hasPrefix("hocker: error: no source could serve \(fixture.unresolvableReference):") })
        #expect(lines.count > error + 3)
        #expect(lines[error + 1].hasPrefix("  mirror \(notFound.hostPort): "))
        #expect(lines[error + 2].hasPrefix("  mirror \(broken.hostPort): "))
        #expect(lines[error + 2].contains("500"))
        #expect(lines[error + 3].hasPrefix("  \(MirrorFixture.unresolvable): "))
    }

    struct CredentialCase: Sendable, CustomTestStringConvertible {
        var name: String
        var registry: @Sendable (MirrorFixture) -> TestRegistry
        var image: @Sendable (MirrorFixture) -> PushedImage
        var credentials: @Sendable (MirrorFixture) -> [String]
        var secret: String
        var testDescription: String { name }
    }

    static let credentialCases: [CredentialCase] = [
        CredentialCase(
            name: "htpasswd", registry: { $0.basic }, image: { $0.basicImage },
            credentials: { _ in ["-u", MirrorFixture.alice.user, "-p", MirrorFixture.alice.password] }, secret: MirrorFixture.alice.password),
        CredentialCase(
            name: "token", registry: { $0.token }, image: { $0.tokenImage },
            credentials: { _ in ["-u", MirrorFixture.bob.name, "-p", MirrorFixture.bob.password] }, secret: MirrorFixture.bob.password),
    ]

    @Test("the primary's credentials never reach a mirror on another host", arguments: credentialCases)
    func credentialsStayWithThePrimary(_ credentialCase: CredentialCase) async throws {
        let fixture = try MirrorFixture.shared
        let registry = credentialCase.registry(fixture)
        let image = credentialCase.image(fixture)
        // The mirror is the same registry behind another port: it asks for credentials, and must get none of the primary's.
        let mirror = try await FaultProxy.start(upstream: registry)
        defer { mirror.stop() }
        let result = try await HockerBinary.run(
            "hocker", ["manifest", "--mirror", mirror.hostPort] + credentialCase.credentials(fixture) + [image.reference])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(sha256Digest(result.stdout) == image.digest)
        let seen = mirror.requests.map { "\($0.method) \($0.path) \($0.status) Authorization: \($0.authorization == nil ? "none" : "present")" }
        print("mirror report: \(credentialCase.name) primary, mirror \(mirror.hostPort): \(seen.joined(separator: "; "))")
        #expect(!mirror.requests.isEmpty)
        // No Basic credential, and no token request with one: a bearer token
        // at the mirror can only be one its own realm issued to an anonymous client.
        #expect(mirror.requests.allSatisfy { !($0.authorization ?? "").hasPrefix("Basic") }, "\(seen)")
        #expect(mirror.requests.filter { $0.kind == .token }.allSatisfy { $0.authorization == nil }, "\(seen)")
        #expect(mirror.requests.filter { $0.kind != .token }.contains { $0.authorization == nil })
        #expect(!result.stderrText.contains(credentialCase.secret))
    }

    @Test("a mirror gets what the auth file holds for its own host, not the primary's credential")
    func mirrorUsesItsOwnCredentials() async throws {
        let fixture = try MirrorFixture.shared
        let mirror = try await FaultProxy.start(upstream: fixture.basic)
        defer { mirror.stop() }
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        let mirrorAuth = Data("\(MirrorFixture.alice.user):\(MirrorFixture.alice.password)".utf8).base64EncodedString()
        let primaryAuth = Data("primary-user:primary-Secret-1".utf8).base64EncodedString()
        let authFile = "\(directory)/auth.json"
        try #"{"auths": {"\#(mirror.hostPort)": {"auth": "\#(mirrorAuth)"}}}"#.write(toFile: authFile, atomically: true, encoding: .utf8)
        let result = try await HockerBinary.run(
            "hocker",
            ["manifest", "--authfile", authFile, "-u", "primary-user", "-p", "primary-Secret-1", "--mirror", mirror.hostPort,
             "\(MirrorFixture.unresolvable)/\(fixture.basicImage.repository):v1"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(sha256Digest(result.stdout) == fixture.basicImage.digest)
        #expect(mirror.requests.contains { $0.authorization == "Basic \(mirrorAuth)" })
        #expect(!mirror.requests.contains { ($0.authorization ?? "").contains(primaryAuth) })
    }

    enum Setting: String, CaseIterable, Sendable {
        case flag = "--mirror"
        case variable = "HOCKER_MIRROR"
        case userConfig = "$XDG_CONFIG_HOME/containers/registries.conf"
        case dropIn = "$XDG_CONFIG_HOME/containers/registries.conf.d/*.conf"
        case explicitFile = "--registries-conf"
        case explicitVariable = "CONTAINERS_REGISTRIES_CONF"
    }

    @Test("mirrors from the flag, the variable and registries.conf files", arguments: Setting.allCases)
    func mirrorSettings(_ setting: Setting) async throws {
        let fixture = try MirrorFixture.shared
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        let conf = """
            unqualified-search-registries = ["docker.io"]  # read, and left alone

            [[registry]]
            location = "\(MirrorFixture.unresolvable)"

            [[registry.mirror]]
            location = "\(fixture.cache.hostPort)"
            """
        var arguments = ["manifest"]
        var environment: [String: String] = ["XDG_CONFIG_HOME": "\(directory)/config"]
        try FileManager.default.createDirectory(atPath: "\(directory)/config/containers/registries.conf.d", withIntermediateDirectories: true)
        switch setting {
        case .flag: arguments += ["--mirror", fixture.cache.hostPort]
        case .variable: environment["HOCKER_MIRROR"] = " \(fixture.cache.hostPort) "
        case .userConfig: try conf.write(toFile: "\(directory)/config/containers/registries.conf", atomically: true, encoding: .utf8)
        case .dropIn:
            try "# nothing\n".write(toFile: "\(directory)/config/containers/registries.conf", atomically: true, encoding: .utf8)
            try conf.write(toFile: "\(directory)/config/containers/registries.conf.d/50-mirror.conf", atomically: true, encoding: .utf8)
        case .explicitFile:
            try conf.write(toFile: "\(directory)/mine.conf", atomically: true, encoding: .utf8)
            arguments += ["--registries-conf", "\(directory)/mine.conf"]
        case .explicitVariable:
            try conf.write(toFile: "\(directory)/mine.conf", atomically: true, encoding: .utf8)
            environment["CONTAINERS_REGISTRIES_CONF"] = "\(directory)/mine.conf"
        }
        let result = try await HockerBinary.run("hocker", arguments + [fixture.unresolvableReference], environment: environment)
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(sha256Digest(result.stdout) == fixture.image.digest)
    }

    @Test("a mirror with a path serves the repository under it")
    func mirrorWithPath() async throws {
        let fixture = try MirrorFixture.shared
        // registry.invalid/app under upstream/mirror is the upstream's mirror/app.
        let before = RegistryAccessLog.manifestGETs(fixture.upstream, repository: fixture.image.repository).count
        let result = try await HockerBinary.run(
            "hocker", ["manifest", "--mirror", "\(fixture.upstream.hostPort)/mirror", "\(MirrorFixture.unresolvable)/app:v1"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(sha256Digest(result.stdout) == fixture.image.digest)
        #expect(RegistryAccessLog.manifestGETs(fixture.upstream, repository: fixture.image.repository).count > before)
    }

    @Test("a digest-only mirror is not asked for a tag; a tag-only one not for a digest")
    func pullFromMirror() async throws {
        let fixture = try MirrorFixture.shared
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        for (policy, reference, served) in [
            ("digest-only", fixture.unresolvableReference, false),
            ("digest-only", "\(MirrorFixture.unresolvable)/\(fixture.image.repository)@\(fixture.image.digest)", true),
            ("tag-only", "\(MirrorFixture.unresolvable)/\(fixture.image.repository)@\(fixture.image.digest)", false),
            ("tag-only", fixture.unresolvableReference, true),
        ] {
            let path = "\(directory)/\(policy).conf"
            try """
                [[registry]]
                location = "\(MirrorFixture.unresolvable)"
                [[registry.mirror]]
                location = "\(fixture.cache.hostPort)"
                pull-from-mirror = "\(policy)"
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try await HockerBinary.run("hocker", ["manifest", "--retries", "0", "--registries-conf", path, reference])
            #expect((result.status == 0) == served, "\(policy) \(reference): \(result.stderrText)")
        }
    }

    @Test("a registries.conf that does not parse: the file, the line and what to do")
    func malformedFile() async throws {
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        let path = "\(directory)/bad.conf"
        try "[[registry]]\nlocation = \"a.example\"\ninsecure = yes\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await HockerBinary.run("hocker", ["manifest", "--registries-conf", path, "a.example/x:1"])
        #expect(result.status == 2)
        #expect(result.stderrText.contains("hocker: error: \(path):3: 'yes' is not a TOML value; write true or false"), "\(result.stderrText)")
        #expect(result.stderrText.contains("hint: fix the file"))
    }

    @Test("docker2nix, the lock file and hocker-layer through a mirror: what is recorded is the registry")
    func pinsNameTheRegistry() async throws {
        let fixture = try MirrorFixture.shared
        let directory = try Scratch.directory()
        defer { Scratch.remove(directory) }
        let mirror = ["--mirror", fixture.cache.hostPort]
        let expression = try await HockerBinary.run("hocker", ["docker2nix", "--fetch"] + mirror + [fixture.unresolvableReference])
        #expect(expression.status == 0, "\(expression.stderrText)")
        #expect(expression.stdoutText.contains(#"registry = "https://\#(MirrorFixture.unresolvable)/v2/";"#), "\(expression.stdoutText)")
        #expect(expression.stdoutText.contains(#"repository = "mirror";"#), "\(expression.stdoutText)")

        let add = try await HockerBinary.run("hocker", ["lock", "add"] + mirror + [fixture.unresolvableReference], directory: directory)
        #expect(add.status == 0, "\(add.stderrText)")
        let lock = try String(contentsOfFile: "\(directory)/hocker.lock.json", encoding: .utf8)
        #expect(lock.contains(#""registry" : "https://\#(MirrorFixture.unresolvable)/v2/""#), "\(lock)")
        #expect(lock.contains(#""repository" : "\#(fixture.image.repository)""#), "\(lock)")
        #expect(lock.contains(fixture.image.digest))
        // HOCKER_MIRROR serves the HEAD of check; without a mirror the name does not resolve.
        let check = try await HockerBinary.run(
            "hocker", ["lock", "check"], environment: ["HOCKER_MIRROR": fixture.cache.hostPort], directory: directory)
        #expect(check.status == 0, "\(check.stderrText)")
        let unreachable = try await HockerBinary.run("hocker", ["lock", "check", "--retries", "0"], directory: directory)
        #expect(unreachable.status == 1)

        let layer = fixture.image.single.layerDigests[0]
        let out = "\(directory)/layer"
        let fetched = try await HockerBinary.run(
            "hocker-layer", ["--out=\(out)", "--layer", String(layer.dropFirst("sha256:".count))] + mirror + ["\(MirrorFixture.unresolvable)/\(fixture.image.repository)", "unused"])
        #expect(fetched.status == 0, "\(fetched.stderrText)")
        #expect(sha256Digest(try Data(contentsOf: URL(fileURLWithPath: out))) == layer)
    }
}
