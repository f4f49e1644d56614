import Foundation
import RegistryTestBed
import Testing

/// The documented deviations of real registries (gcr.io, nvcr.io, GitLab,
/// ECR, Harbor, ACR, Docker Hub, S3 behind a redirect), each imitated by a
/// ``FaultProxy`` rule or a ``TokenPolicy`` in front of a real
/// distribution registry, and the whole image pulled through it with the
/// real binary, every layer verified.
extension FaultTests {
    struct Quirk: Sendable, CustomTestStringConvertible {
        enum Upstream: Sendable {
            case open, basic, token, quirkyToken
        }

        var name: String
        var upstream: Upstream = .token
        /// Bob's private image rather than the public one, where the upstream has both.
        var privateImage = false
        var command: Command = .image(jobs: 4)
        var arguments: @Sendable (_ proxy: FaultProxy, _ directory: String) throws -> [String] = { _, _ in [] }
        var setUp: @Sendable (FaultProxy, FaultFixture) -> Void
        var check: @Sendable (FaultProxy, FaultFixture, Outcome) -> Void = { _, _, _ in }
        var testDescription: String { name }

        func registry(_ fixture: FaultFixture) -> TestRegistry {
            switch upstream {
            case .open: fixture.open
            case .basic: fixture.basic
            case .token: fixture.token
            case .quirkyToken: fixture.quirkyToken
            }
        }

        func image(_ fixture: FaultFixture) -> PushedImage {
            switch upstream {
            case .open: fixture.small
            case .basic: fixture.basicImage
            case .token: privateImage ? fixture.privateImage : fixture.publicImage
            case .quirkyToken: privateImage ? fixture.quirkyPrivate : fixture.quirkyPublic
            }
        }
    }

    static let bobArguments: @Sendable (FaultProxy, String) throws -> [String] = { _, _ in ["-u", FaultFixture.bob.name, "-p", FaultFixture.bob.password] }

    static func tokenRequests(_ proxy: FaultProxy) -> [ProxiedRequest] { proxy.requests.filter { $0.kind == .token } }

    /// Registry requests for blobs at the main listener, and the storage requests they were redirected to.
    static func storageRequests(_ proxy: FaultProxy) -> [ProxiedRequest] { proxy.requests.filter { $0.kind == .redirected } }

    static let quirks: [Quirk] = [
        // Challenges
        Quirk(
            name: "gcr.io: 401 without WWW-Authenticate on repository paths, the challenge only on /v2/",
            setUp: { proxy, _ in
                proxy.add(FaultMatch { _, kind, _ in [.manifest, .blob, .tags].contains(kind) }, .rewriteChallenge(.removed))
            },
            check: { proxy, _, _ in
                #expect(proxy.requests.contains { $0.kind == .base && $0.status == 401 })
                #expect(proxy.requests.contains { $0.kind == .manifest && $0.status == 401 })
            }),
        Quirk(
            name: "gcr.io: unquoted parameter values (service=gcr.io)",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.unquoted)) }),
        Quirk(
            name: "several challenges in one header, the supported one last (RFC 7235's Newauth example first)",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.afterUnsupportedInOneHeader)) }),
        Quirk(
            name: "several WWW-Authenticate headers, unsupported ones first (Negotiate)",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.afterUnsupportedHeader)) }),
        Quirk(
            name: "nvcr.io: no service in the challenge",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.withoutService)) },
            check: { proxy, _, _ in
                let tokens = tokenRequests(proxy)
                #expect(!tokens.isEmpty && tokens.allSatisfy { !$0.uri.contains("service=") }, "\(tokens.map(\.uri))")
            }),
        Quirk(
            name: "a realm with its own query string: kept, scope and service added",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.realmQuery("tenant=hocker&region=eu"))) },
            check: { proxy, _, _ in
                let tokens = tokenRequests(proxy)
                #expect(!tokens.isEmpty && tokens.allSatisfy { $0.uri.contains("tenant=hocker&region=eu") && $0.uri.contains("scope=") && $0.uri.contains("service=") })
            }),
        Quirk(
            name: "GitLab: the realm on another host",
            setUp: { proxy, _ in proxy.add(.registryRequests, .rewriteChallenge(.realmOnAlternateHost)) },
            check: { proxy, _, _ in
                let tokens = tokenRequests(proxy)
                #expect(!tokens.isEmpty && tokens.allSatisfy { $0.listener == .alternate && $0.status == 200 })
            }),
        Quirk(
            name: "ECR: Basic challenge with a text/plain body", upstream: .basic, arguments: { _, _ in ["-u", FaultFixture.alice.user, "-p", FaultFixture.alice.password] },
            setUp: { proxy, _ in
                proxy.add(
                    .registryRequests,
                    .respondWithoutAuthorization(
                        status: 401,
                        headers: [
                            "WWW-Authenticate": #"Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
                            "Content-Type": "text/plain; charset=utf-8",
                        ],
                        body: "Not Authorized\n"))
            },
            check: { proxy, _, _ in #expect(proxy.requests.contains { $0.status == 401 && ($0.fault ?? "").contains("respondWithoutAuthorization") }) }),
        Quirk(
            name: "insufficient_scope: the first challenge names another repository, one new token for the scope the 401 names",
            setUp: { proxy, _ in proxy.add(.manifestGETs, .rewriteChallenge(.scope("repository:public/other:pull")), times: 1) },
            check: { proxy, _, _ in
                let tokens = tokenRequests(proxy)
                #expect(tokens.count == 2, "\(tokens.map(\.uri))")
                #expect(tokens.first?.uri.contains("public%2Fother") == true || tokens.first?.uri.contains("public/other") == true)
            }),
        Quirk(
            name: "nvcr.io: after a token expired the 401 names another realm: start over there, once", command: .config,
            setUp: { proxy, _ in
                proxy.setTokenFault(.singleUse)
                proxy.add(.registryRequests, .passThrough, times: 1)
                proxy.add(.registryRequests, .rewriteChallenge(.realmOnAlternateHost))
            },
            check: { proxy, _, _ in
                let tokens = tokenRequests(proxy)
                #expect(tokens.contains { $0.listener == .main } && tokens.contains { $0.listener == .alternate }, "\(tokens.map(\.listener))")
            }),
        Quirk(
            name: "Harbor: a 401 answering Basic after a token: Basic, then Bearer again", privateImage: true, command: .config, arguments: bobArguments,
            setUp: { proxy, _ in
                proxy.add(.blobGETs, .respond(status: 401, headers: ["WWW-Authenticate": #"Basic realm="harbor""#]), times: 1)
            },
            check: { proxy, _, _ in
                let blobs = proxy.requests.filter { $0.kind == .blob }
                let seen = blobs.map { "\($0.method) \($0.status) \(($0.authorization ?? "none").prefix(6))" }
                #expect(seen.contains("GET 401 Basic "), "\(seen)")
                // The last answer's record may still be being written when the command exits: its status is 200 or not yet set.
                #expect(blobs.last.map { ($0.authorization ?? "").hasPrefix("Bearer ") && ($0.status == 200 || $0.status == 0) } == true, "\(seen)")
            }),
        // Tokens
        Quirk(
            name: "tokens: access_token only, expires_in 1 (counts as 60), issued_at an hour ahead: one token for the pull",
            upstream: .quirkyToken, command: .image(jobs: 1),
            setUp: { _, _ in },
            check: { proxy, _, _ in #expect(tokenRequests(proxy).count == 1, "\(tokenRequests(proxy).map(\.uri))") }),
        Quirk(
            name: "ACR: identity token with user 00000000-…: POST refused 405, then GET with Basic", upstream: .quirkyToken, privateImage: true,
            arguments: { proxy, directory in
                let auth = Data("\(FaultFixture.acrUsername):".utf8).base64EncodedString()
                let path = "\(directory)/../acr-auth.json"
                try #"{"auths": {"\#(proxy.hostPort)": {"auth": "\#(auth)", "identitytoken": "\#(FaultFixture.acrIdentityToken)"}}}"#
                    .write(toFile: path, atomically: true, encoding: .utf8)
                return ["--authfile", path]
            },
            setUp: { _, _ in },
            check: { proxy, _, outcome in
                let tokens = tokenRequests(proxy)
                #expect(tokens.contains { $0.method == "POST" && $0.status == 405 })
                #expect(tokens.contains { $0.method == "GET" && $0.status == 200 && ($0.authorization ?? "").hasPrefix("Basic ") })
                #expect(!outcome.result.stderrText.contains(FaultFixture.acrIdentityToken))
            }),
        // Blobs
        Quirk(
            name: "S3 behind a 307: storage refuses any Authorization (400) and HEAD (403), URLs work once",
            setUp: { proxy, _ in proxy.add(.blobGETs, .redirectToStorage(.s3)) },
            check: { proxy, _, _ in
                let storage = storageRequests(proxy)
                #expect(storage.count == 4 && storage.allSatisfy { $0.authorization == nil && $0.status == 200 }, "\(storage.map(\.status))")
            }),
        Quirk(
            name: "Docker Hub's CDN: a 302 with a relative Location",
            upstream: .open,
            setUp: { proxy, _ in proxy.add(.blobGETs, .redirectToStorage(StorageBehaviour(status: 302, relative: true))) },
            check: { proxy, _, _ in
                let storage = storageRequests(proxy)
                #expect(storage.count == 4 && storage.allSatisfy { $0.listener == .main && $0.status == 200 })
            }),
        // Manifests
        Quirk(
            name: "Docker-Content-Digest missing", setUp: { proxy, _ in proxy.add(.manifestGETs, .digestHeader(.removed)) }),
        Quirk(
            name: "Docker-Content-Digest in bare hex", setUp: { proxy, _ in proxy.add(.manifestGETs, .digestHeader(.bareHex)) }),
        Quirk(
            name: "Docker-Content-Digest wrong for a tag: the body's digest is used", setUp: { proxy, _ in proxy.add(.manifestGETs, .digestHeader(.wrong)) }),
        Quirk(
            name: "an OCI manifest without mediaType, served with an index's Content-Type: decided from the body", upstream: .open,
            setUp: { proxy, fixture in
                let manifest = editedManifest(fixture.small.single.bytes) { $0["mediaType"] = nil }
                proxy.add(.manifestGETs, .serve(body: manifest, contentType: "application/vnd.oci.image.index.v1+json"))
            }),
        // Rate limits
        Quirk(
            name: "HAP429: 429 with a text/plain body and no Retry-After, twice", upstream: .open,
            setUp: { proxy, _ in
                proxy.add(.manifestGETs, .respond(status: 429, headers: ["Content-Type": "text/plain"], body: "Too Many Requests (HAP429).\n"), times: 2)
            },
            check: { proxy, _, _ in #expect(proxy.requests.filter { $0.status == 429 }.count == 2) }),
        Quirk(
            name: "--verbose shows Docker Hub's rate limit on every response", upstream: .open, command: .config, arguments: { _, _ in ["--verbose"] },
            setUp: { proxy, _ in proxy.add(.registryRequests, .addHeaders(["ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"])) },
            check: { _, _, outcome in
                let lines = outcome.result.stderrText.split(separator: "\n").filter { $0.contains("76 of 100 pulls left in 6 h") }
                #expect(lines.count >= 2, "\(outcome.result.stderrText)")
            }),
    ]

    // One at a time: twenty pulls at once on top of the other fault tests starve the timing-sensitive ones on a small machine.
    @Test("a registry's documented quirk, imitated: the whole image pulled and verified", .serialized, arguments: quirks)
    func registryQuirk(_ quirk: Quirk) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("quirk")
        defer { Scratch.remove(directory) }
        let output = "\(directory)/out"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let image = quirk.image(fixture)
        try await withFaultProxy(in: quirk.registry(fixture)) { proxy in
            quirk.setUp(proxy, fixture)
            let arguments = try quirk.arguments(proxy, output)
            let outcome = try await Self.run(quirk.command, through: proxy, image: image, arguments: arguments, in: output)
            #expect(outcome.result.status == 0, "\(outcome.result.stderrText)")
            guard outcome.result.status == 0 else { return }
            try await Self.expectCorrectOutput(quirk.command, outcome, image: image)
            Self.expectNoLeftovers(outcome, succeeded: true)
            quirk.check(proxy, fixture, outcome)
            Self.report("quirk: \(quirk.name)", outcome, proxy: proxy)
        }
    }

    /// A layer whose size the caller does not know (nixpkgs' `hocker-layer
    /// … unused`), through S3-like storage behind a redirect whose URLs
    /// work once, refuse HEAD and Authorization, send no Accept-Ranges and
    /// refuse open-ended ranges; the body is cut twice. Every resume goes
    /// back to the registry for a fresh URL and asks `bytes=N-END`.
    @Test("a resume through single-use storage URLs asks the registry again each time", arguments: [false, true])
    func resumeThroughSingleUseStorage(withoutContentLength: Bool) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("quirk")
        defer { Scratch.remove(directory) }
        let layer = fixture.bigLayer
        try await withFaultProxy(in: fixture.token) { proxy in
            var storage = StorageBehaviour.s3
            storage.noAcceptRanges = true
            storage.refusesOpenRange = true
            storage.withoutContentLength = withoutContentLength
            proxy.add(.blobGETs, .redirectToStorage(storage))
            if withoutContentLength {
                proxy.add(.redirectedGETs, .chunkedThenCloseAfter(bytes: 100_000), times: 1)
            } else {
                proxy.add(.redirectedGETs, .truncateAfter(bytes: 100_000), times: 2)
            }
            let outcome = try await Self.run(.layer, through: proxy, image: fixture.publicImage, layer: layer.digest, in: directory)
            #expect(outcome.result.status == 0, "\(outcome.result.stderrText)")
            guard outcome.result.status == 0 else { return }
            try await Self.expectCorrectOutput(.layer, outcome, image: fixture.publicImage, layer: layer.digest)
            let registryGETs = proxy.requests.filter { $0.kind == .blob && $0.method == "GET" && $0.path.hasSuffix(layer.digest) }
            let storageGETs = Self.storageRequests(proxy)
            // The first GET gets the registry's challenge; every other one a fresh redirect, one per storage request.
            #expect(registryGETs.first?.status == 401)
            #expect(registryGETs.dropFirst().allSatisfy { $0.status == 307 } && registryGETs.count - 1 == storageGETs.count, "\(registryGETs.map(\.status))")
            #expect(storageGETs.allSatisfy { $0.authorization == nil && $0.status != 400 && $0.status != 403 && $0.status != 416 }, "\(storageGETs.map(\.status))")
            #expect(!proxy.requests.contains { $0.method == "HEAD" })
            let served = proxy.bytesServed(blob: layer.digest)
            #expect(served < Int64(Double(layer.size) * 1.5))
            if withoutContentLength {
                #expect(storageGETs.contains { $0.range == "bytes=0-0" })
            }
            let ranges = storageGETs.map { $0.range ?? "-" }
            print(
                "resume through single-use storage (no Content-Length: \(withoutContentLength)): blob \(layer.size) B, served \(served) B, "
                    + "registry blob GETs \(registryGETs.count) (\(registryGETs.map(\.status))), storage GETs \(storageGETs.count) ranges \(ranges), "
                    + "Authorization at storage: \(storageGETs.compactMap(\.authorization).count)")
        }
    }

    /// Docker Hub's answer when no pull is left: a 429 naming the quota and
    /// no Retry-After. No retry can help, so none is made.
    @Test("Docker Hub out of pulls: the 429's rate limit in the error, no retry")
    func outOfPulls() async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("quirk")
        defer { Scratch.remove(directory) }
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(
                .manifestGETs,
                .respond(
                    status: 429, headers: ["ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600", "Content-Type": "application/json"],
                    body: #"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#))
            let outcome = try await Self.run(.image(jobs: 4), through: proxy, image: fixture.small, in: directory)
            #expect(outcome.result.status == 1)
            #expect(outcome.result.stderrText.contains("rate limit: 0 of 100 pulls left in 6 h"), "\(outcome.result.stderrText)")
            #expect(outcome.result.stderrText.contains("TOOMANYREQUESTS"))
            #expect(proxy.requests.filter { $0.kind == .manifest }.count == 1)
            Self.expectNoLeftovers(outcome, succeeded: false)
        }
    }

    /// HEAD answers carry no body: what went wrong is read from the status
    /// and headers alone.
    @Test("HEAD errors with no body: from the status and headers", arguments: [(404, "manifest unknown"), (429, "429"), (403, "denied")])
    func headErrorsWithoutBody(status: Int, mention: String) async throws {
        let fixture = try FaultFixture.shared
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(.manifestHEADs, .respond(status: status, headers: status == 429 ? ["Retry-After": "1"] : [:]))
            let result = try await HockerBinary.run("hocker", ["digest", "--registry", proxy.v2URL, "--retries", "1", fixture.small.repository, fixture.small.tag])
            #expect(result.status == 1, "\(result.stderrText)")
            #expect(result.stderrText.contains(mention), "\(result.stderrText)")
            #expect(proxy.requests.filter { $0.method == "HEAD" }.allSatisfy { $0.bodyBytes == 0 })
        }
    }
}

extension FaultTests {
    /// zstd layers, under OCI's type and the non-standard docker one some
    /// builders write, are written to an OCI layout as served: the
    /// manifest's bytes (and so its types) and each blob unchanged.
    @Test(
        "zstd layer types are kept as served in an OCI layout",
        arguments: ["application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar.zstd"])
    func zstdLayersKept(_ type: String) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("quirk")
        defer { Scratch.remove(directory) }
        let manifest = Self.editedManifest(fixture.small.single.bytes) { json in
            guard var layers = json["layers"] as? [[String: Any]] else { return }
            for index in layers.indices { layers[index]["mediaType"] = type }
            json["layers"] = layers
        }
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(.manifestGETs, .serve(body: manifest, contentType: "application/vnd.oci.image.manifest.v1+json"))
            let out = "\(directory)/layout"
            let result = try await HockerBinary.run(
                "hocker", ["image", "--registry", proxy.v2URL, "--format", "oci", "--progress", "none", "--out", out, fixture.small.repository, fixture.small.tag])
            #expect(result.status == 0, "\(result.stderrText)")
            guard result.status == 0 else { return }
            let manifestDigest = sha256Digest(manifest)
            let stored = try Data(contentsOf: URL(fileURLWithPath: "\(out)/blobs/sha256/\(manifestDigest.dropFirst("sha256:".count))"))
            #expect(stored == manifest)
            let layers = (try JSONSerialization.jsonObject(with: stored) as? [String: Any])?["layers"] as? [[String: Any]]
            #expect(layers?.map { $0["mediaType"] as? String } == Array(repeating: type, count: fixture.small.single.layerDigests.count))
            for layer in fixture.small.single.layerDigests {
                #expect(try sha256Digest(file: "\(out)/blobs/sha256/\(layer.dropFirst("sha256:".count))") == layer)
            }
        }
    }
}

extension FaultTests {
    /// A pinned digest is checked against the bytes, whatever
    /// `Docker-Content-Digest` says; bytes that do not match it are refused.
    @Test("a pinned digest is checked against the body, not Docker-Content-Digest", arguments: [false, true])
    func pinnedDigestAgainstBody(servesOtherBytes: Bool) async throws {
        let fixture = try FaultFixture.shared
        try await withFaultProxy(in: fixture.open) { proxy in
            if servesOtherBytes {
                let other = Self.editedManifest(fixture.small.single.bytes) { $0["annotations"] = ["edited": "yes"] }
                proxy.add(.manifestGETs, .serve(body: other, contentType: "application/vnd.oci.image.manifest.v1+json"))
            } else {
                proxy.add(.manifestGETs, .digestHeader(.wrong))
            }
            let result = try await HockerBinary.run("hocker-manifest", ["--registry", proxy.v2URL, fixture.small.repository, fixture.small.single.digest])
            if servesOtherBytes {
                #expect(result.status == 1)
                #expect(result.stderrText.contains("digest mismatch"), "\(result.stderrText)")
            } else {
                #expect(result.status == 0, "\(result.stderrText)")
                #expect(sha256Digest(result.stdout) == fixture.small.single.digest)
            }
        }
    }
}

extension FaultTests {
    /// A non-distributable (foreign) layer: asked of the registry first; when
    /// it does not hold it, fetched from the URL the manifest lists only with
    /// --allow-nondistributable-artifacts, and without credentials.
    @Test("a foreign layer the registry lacks: from its URL only with the flag, without credentials", arguments: [false, true])
    func foreignLayer(allowed: Bool) async throws {
        let fixture = try FaultFixture.shared
        let directory = try Scratch.directory("quirk")
        defer { Scratch.remove(directory) }
        let image = fixture.privateImage
        let layer = image.single.layers[2]
        let bytes = try await TestHTTP.request("GET", "\(fixture.open.v2URL)\(fixture.small.repository)/blobs/\(layer.digest)").body
        try #require(sha256Digest(bytes) == layer.digest)
        try await withFaultProxy(in: fixture.token) { proxy in
            let foreignURL = "http://localhost:\(proxy.port)/foreign/layer.tar.gz"
            let manifest = Self.editedManifest(image.single.bytes) { json in
                guard var layers = json["layers"] as? [[String: Any]] else { return }
                let docker = (layers[2]["mediaType"] as? String ?? "").contains("docker")
                layers[2]["mediaType"] =
                    docker ? "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" : "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
                layers[2]["urls"] = [foreignURL]
                json["layers"] = layers
            }
            proxy.add(.manifestGETs, .serve(body: manifest, contentType: image.single.mediaType))
            proxy.add(
                .blobGET(layer.digest),
                .respond(status: 404, headers: ["Content-Type": "application/json"], body: #"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#))
            proxy.add(FaultMatch { method, _, path in method == "GET" && path == "/foreign/layer.tar.gz" }, .serve(body: bytes, contentType: "application/octet-stream"))
            let outcome = try await Self.run(
                .image(jobs: 4), through: proxy, image: image, arguments: ["-u", FaultFixture.bob.name, "-p", FaultFixture.bob.password] + (allowed ? ["--allow-nondistributable-artifacts"] : []),
                in: directory)
            let foreign = proxy.requests.filter { $0.path == "/foreign/layer.tar.gz" }
            if allowed {
                #expect(outcome.result.status == 0, "\(outcome.result.stderrText)")
                guard outcome.result.status == 0 else { return }
                try await ArchiveChecks.layersMatchDiffIDs(archive: outcome.output, configDigest: image.single.configDigest, layerDigests: image.single.layerDigests)
                #expect(proxy.requests.contains { $0.kind == .blob && $0.path.hasSuffix(layer.digest) && $0.status == 404 }, "the registry was asked first")
                #expect(foreign.count == 1 && foreign.allSatisfy { $0.authorization == nil && $0.host?.hasPrefix("localhost") == true })
            } else {
                #expect(outcome.result.status == 1)
                #expect(outcome.result.stderrText.contains("non-distributable layer"), "\(outcome.result.stderrText)")
                #expect(outcome.result.stderrText.contains("--allow-nondistributable-artifacts"))
                #expect(foreign.isEmpty)
                Self.expectNoLeftovers(outcome, succeeded: false)
            }
        }
    }
}
