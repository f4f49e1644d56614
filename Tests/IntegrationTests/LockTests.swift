import Foundation
import ImageLock
import RegistryTestBed
import Testing

/// `hocker lock` as a person runs it: the built binary in a directory of
/// its own, against real registries whose tags the tests move, with the
/// registries' access logs as the witness of what was asked.
@Suite("Lock files", .serialized, .lockRegistries, .enabled(if: Integration.enabled, Integration.skipReason))
struct LockTests {
    /// `hocker ARGS` in `directory`.
    static func hocker(_ arguments: [String], in directory: String) async throws -> ProcessResult {
        try await HockerBinary.run("hocker", arguments, directory: directory)
    }

    /// `hocker ARGS` in `directory` that must succeed.
    @discardableResult
    static func succeed(_ arguments: [String], in directory: String) async throws -> ProcessResult {
        let result = try await hocker(arguments, in: directory)
        try #require(result.status == 0, "hocker \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderrText)")
        return result
    }

    static func lockFile(_ directory: String) throws -> LockFile {
        let path = directory + "/hocker.lock.json"
        return try LockFile(bytes: try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
    }

    static func bytes(_ directory: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: directory + "/hocker.lock.json"))
    }

    /// Every layer digest of the pushed images.
    static func layers(_ images: PushedImage...) -> Set<String> {
        Set(images.flatMap { $0.manifests.flatMap(\.layerDigests) })
    }

    /// Three images added from an empty directory (one single-platform, one
    /// with every platform of its index, one through the htpasswd registry);
    /// a push moves one tag; check fails naming it, update resolves it with
    /// one HEAD per entry and no layer, check passes, and only that entry's
    /// lines changed. A second update changes no byte.
    @Test func addCheckUpdateCheck() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("scenario")
        let single = try await fixture.open.push(fixture.single, repository: "\(prefix)/single", tag: "v1")
        let multi = try await fixture.open.push(fixture.multi, repository: "\(prefix)/multi", tag: "v1")
        let secret = try await fixture.basic.push(fixture.single, repository: "\(prefix)/app", tag: "v1")
        let directory = try Scratch.directory("lock-scenario")
        let secrets = try Scratch.directory("lock-auth")
        defer { Scratch.remove(directory); Scratch.remove(secrets) }
        let auth = ["--authfile", try fixture.authFile(in: secrets)]
        let allLayers = Self.layers(single, multi, secret)

        let openLog = AccessLog(fixture.open)
        let basicLog = AccessLog(fixture.basic)
        let added = [
            try await Self.succeed(["lock", "add", single.reference], in: directory),
            try await Self.succeed(["lock", "add", "--platform", "all", multi.reference], in: directory),
            try await Self.succeed(["lock", "add"] + auth + [secret.reference], in: directory),
        ]
        #expect(added.map(\.stdoutText) == [
            "added single: \(single.reference) sha256:\(single.digest.dropFirst(7).prefix(12))…, linux/amd64\n",
            "added multi: \(multi.reference) sha256:\(multi.digest.dropFirst(7).prefix(12))…, linux/amd64 linux/arm64/v8\n",
            "added app: \(secret.reference) sha256:\(secret.digest.dropFirst(7).prefix(12))…, linux/amd64\n",
        ])
        let addRequests = openLog.requests() + basicLog.requests()
        #expect(!addRequests.isEmpty)
        #expect(addRequests.filter { $0.isBlobGET(of: allLayers) }.isEmpty, "lock add fetched layers: \(addRequests)")
        #expect(Scratch.contents(directory) == ["hocker.lock.json"])

        let lock = try Self.lockFile(directory)
        #expect(lock.names == ["app", "multi", "single"])
        let multiEntry = try #require(lock.entries["multi"])
        #expect(multiEntry.pin.digest?.description == multi.digest && multiEntry.pin.indexDigest?.description == multi.digest)
        #expect(multiEntry.pin.images.map(\.manifestDigest.description) == multi.manifests.map(\.digest))
        #expect(multiEntry.request == LockRequest(reference: multi.reference, platforms: ["all"]))
        #expect(lock.entries["single"]?.pin.digest?.description == single.digest)
        #expect(lock.entries["single"]?.request.platforms == ["linux/amd64"])
        #expect(lock.entries["app"]?.pin.registry == fixture.basic.v2URL)
        #expect(!String(decoding: try Self.bytes(directory), as: UTF8.self).contains(LockFixture.alice.password))

        let list = try await Self.succeed(["lock", "list"], in: directory).stdoutText.split(separator: "\n").map(String.init)
        #expect(list.count == 4)
        #expect(list[0].split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "REFERENCE", "DIGEST", "PLATFORMS", "SIZE"])
        #expect(list[2].hasPrefix("multi ") && list[2].contains(multi.reference) && list[2].contains("linux/amd64 linux/arm64/v8"))
        #expect(list[3].contains("sha256:\(single.digest.dropFirst(7).prefix(12))…"))

        // The tag moves.
        let moved = try await fixture.open.push(fixture.singleNext, repository: "\(prefix)/single", tag: "v1")
        #expect(moved.digest != single.digest)
        let before = try Self.bytes(directory)
        let line = "single: \(single.reference) sha256:\(single.digest.dropFirst(7).prefix(12))… → sha256:\(moved.digest.dropFirst(7).prefix(12))…, linux/amd64"

        let check = try await Self.hocker(["lock", "check"] + auth, in: directory)
        #expect(check.status == 1)
        #expect(check.stdoutText == line + "\n" + "1 of 3 entries out of date in hocker.lock.json\n")
        #expect(check.stderrText.contains("hocker: error: hocker.lock.json is out of date: 1 of 3 entries moved or was edited (single)"), "\(check.stderrText)")
        #expect(check.stderrText.contains("hint: resolve them again: hocker lock update single"))
        #expect(try Self.bytes(directory) == before, "check wrote the lock file")

        let updateOpen = AccessLog(fixture.open)
        let updateBasic = AccessLog(fixture.basic)
        let update = try await Self.succeed(["lock", "update"] + auth, in: directory)
        #expect(update.stdoutText == line + "\n" + "1 of 3 entries resolved again, 2 unchanged; hocker.lock.json updated\n")
        // One HEAD for each unchanged entry, and nothing else; the moved one
        // is resolved from its manifest and config, never a layer.
        #expect(updateOpen.requests(in: "\(prefix)/multi") == [LoggedRequest(method: "HEAD", path: "/v2/\(prefix)/multi/manifests/v1", status: 200)])
        let appRequests = updateBasic.requests(in: "\(prefix)/app")
        #expect(appRequests.filter { $0.status != 401 } == [LoggedRequest(method: "HEAD", path: "/v2/\(prefix)/app/manifests/v1", status: 200)])
        #expect(appRequests.filter { $0.status == 401 }.count <= 1, "\(appRequests)")
        let singleRequests = updateOpen.requests(in: "\(prefix)/single")
        #expect(singleRequests.first == LoggedRequest(method: "HEAD", path: "/v2/\(prefix)/single/manifests/v1", status: 200))
        #expect(singleRequests.filter { $0.method == "HEAD" }.count == 1)
        #expect(singleRequests.filter { $0.isBlobGET(of: Self.layers(moved) .union(allLayers)) }.isEmpty, "\(singleRequests)")
        #expect(singleRequests.contains { $0.isBlobGET(of: [moved.single.configDigest]) }, "the config names the platform")

        let after = try Self.lockFile(directory)
        #expect(after.entries["single"]?.pin.digest?.description == moved.digest)
        #expect(after.entries["single"]?.pin.images.first?.layers.map(\.digest.description) == moved.single.layerDigests)
        #expect(after.entries["multi"] == lock.entries["multi"] && after.entries["app"] == lock.entries["app"])
        let diff = try await runProcess("diff", ["-u", "-", directory + "/hocker.lock.json"], stdin: before)
        let changedLines = diff.stdoutText.split(separator: "\n").filter { ($0.hasPrefix("+") || $0.hasPrefix("-")) && !$0.hasPrefix("+++") && !$0.hasPrefix("---") }
        // The digest (twice: the entry's and its manifest's), the config's and the top layer's digest and hash, and the sizes that differ.
        #expect(!changedLines.isEmpty && changedLines.allSatisfy { line in ["digest", "hash", "size"].contains { line.lowercased().contains($0) } }, "\(diff.stdoutText)")

        let recheck = try await Self.succeed(["lock", "check"] + auth, in: directory)
        #expect(recheck.stdoutText == "3 entries up to date in hocker.lock.json\n")

        let settled = try Self.bytes(directory)
        let again = AccessLog(fixture.open)
        let rerun = try await Self.succeed(["lock", "update"] + auth, in: directory)
        #expect(rerun.stdoutText == "3 entries up to date in hocker.lock.json\n")
        #expect(try Self.bytes(directory) == settled, "a run with nothing moved changed bytes")
        #expect(again.requests().filter { $0.path.contains(prefix) }.map(\.method) == ["HEAD", "HEAD"])
    }

    /// A bot's bump, made as Renovate makes it — the tag and the digest
    /// strings replaced with sed — is reported by check, completed by
    /// update into the entry `lock add` writes for the new tag, and check
    /// passes after.
    @Test func renovateStyleBump() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("bump")
        let old = try await fixture.open.push(fixture.multi, repository: "\(prefix)/app", tag: "v1")
        let new = try await fixture.open.push(fixture.multiNext, repository: "\(prefix)/app", tag: "v2")
        let directory = try Scratch.directory("lock-bump")
        let fresh = try Scratch.directory("lock-bump-fresh")
        defer { Scratch.remove(directory); Scratch.remove(fresh) }
        try await Self.succeed(["lock", "add", "--platform", "all", old.reference], in: directory)
        try await Self.succeed(["lock", "add", "--platform", "all", new.reference], in: fresh)

        _ = try await runChecked("sed", [
            "-i", "-e", #"s/"tag" : "v1"/"tag" : "v2"/"#, "-e", #"s/"digest" : "\#(old.digest)"/"digest" : "\#(new.digest)"/"#,
            directory + "/hocker.lock.json",
        ])
        let edited = try #require(try Self.lockFile(directory).entries["app"])
        #expect(edited.pin.tag == "v2" && edited.pin.digest?.description == new.digest && edited.pin.indexDigest?.description == old.digest)

        let check = try await Self.hocker(["lock", "check"], in: directory)
        #expect(check.status == 1)
        #expect(check.stdoutText.hasPrefix(
            "app: \(new.reference) sha256:\(old.digest.dropFirst(7).prefix(12))… → sha256:\(new.digest.dropFirst(7).prefix(12))…, linux/amd64 linux/arm64/v8 (digest edited to"),
            "\(check.stdoutText)")
        #expect(check.stdoutText.contains("tag edited from v1 to v2"))

        let json = try await Self.hocker(["lock", "check", "--json"], in: directory)
        #expect(json.status == 1)
        let report = try JSONDecoder().decode(LockReport.self, from: json.stdout)
        let change = try #require(report.changed.first)
        #expect(!change.moved && change.old?.description == old.digest && change.new.description == new.digest)
        #expect(change.platforms.map(\.old?.description) == old.manifests.map(\.digest))
        #expect(change.platforms.map(\.new?.description) == new.manifests.map(\.digest))
        #expect(!report.written)

        let update = try await Self.succeed(["lock", "update", "app"], in: directory)
        #expect(update.stdoutText.hasSuffix("1 of 1 entry resolved again, 0 unchanged; hocker.lock.json updated\n"), "\(update.stdoutText)")
        #expect(try Self.lockFile(directory).entries["app"] == (try Self.lockFile(fresh)).entries["app"])
        #expect(try Self.bytes(directory) == (try Self.bytes(fresh)))
        #expect(try await Self.hocker(["lock", "check"], in: directory).status == 0)
    }

    /// One entry whose tag is gone fails with a line naming it; the other
    /// entry's move is written, the failed one is kept as it was, exit 1.
    @Test func aFailedEntryLeavesTheOthersWritten() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("failure")
        let kept = try await fixture.open.push(fixture.single, repository: "\(prefix)/kept", tag: "v1")
        let gone = try await fixture.open.push(fixture.single, repository: "\(prefix)/gone", tag: "v1")
        let directory = try Scratch.directory("lock-failure")
        defer { Scratch.remove(directory) }
        try await Self.succeed(["lock", "add", kept.reference, gone.reference], in: directory)
        let before = try Self.lockFile(directory)
        let moved = try await fixture.open.push(fixture.singleNext, repository: "\(prefix)/kept", tag: "v1")
        _ = try await Skopeo.run(["delete", "--tls-verify=false", "docker://\(gone.hostPort)/\(gone.repository)@\(gone.digest)"])

        let update = try await Self.hocker(["lock", "update"], in: directory)
        #expect(update.status == 1)
        #expect(update.stdoutText.hasPrefix("kept: \(kept.reference) "), "\(update.stdoutText)")
        let errors = update.stderrText.split(separator: "\n").filter { $0.hasPrefix("hocker: error: ") }
        #expect(errors.last == "hocker: error: 1 of 2 entries failed (gone); hocker.lock.json keeps it as it was, with the others' changes written", "\(update.stderrText)")
        #expect(errors.count == 2)
        #expect(update.stderrText.contains("hocker: error: gone: manifest unknown: \(prefix)/gone:v1 at \(fixture.open.hostPort)"), "\(update.stderrText)")
        let after = try Self.lockFile(directory)
        #expect(after.entries["gone"] == before.entries["gone"])
        #expect(after.entries["kept"]?.pin.digest?.description == moved.digest)
    }

    /// Names: two references with one last path component are refused
    /// before any request, naming both; so is one that takes an existing
    /// entry's name; --name settles it.
    @Test func nameClashes() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("names")
        let a = try await fixture.open.push(fixture.single, repository: "\(prefix)/a/app", tag: "v1")
        let b = try await fixture.open.push(fixture.single, repository: "\(prefix)/b/app", tag: "v1")
        let directory = try Scratch.directory("lock-names")
        defer { Scratch.remove(directory) }
        let both = try await Self.hocker(["lock", "add", a.reference, b.reference], in: directory)
        #expect(both.status == 2)
        #expect(both.stderrText.contains("hocker: error: the entry name app is taken twice: \(a.reference) and \(b.reference) would both be app in hocker.lock.json"), "\(both.stderrText)")
        #expect(Scratch.contents(directory).isEmpty)

        try await Self.succeed(["lock", "add", a.reference], in: directory)
        let before = try Self.bytes(directory)
        let clash = try await Self.hocker(["lock", "add", b.reference], in: directory)
        #expect(clash.status == 2)
        #expect(clash.stderrText.contains("\(a.reference) and \(b.reference) would both be app"), "\(clash.stderrText)")
        #expect(clash.stderrText.contains("hint: give one another name: hocker lock add --name NAME REFERENCE"))
        #expect(try Self.bytes(directory) == before)

        try await Self.succeed(["lock", "add", "--name", "app-b", "--final-name", "local/app:pinned", b.reference], in: directory)
        #expect(try Self.lockFile(directory).names == ["app", "app-b"])
        #expect(try Self.lockFile(directory).entries["app-b"]?.request == LockRequest(reference: b.reference, platforms: ["linux/amd64"], finalName: "local/app", finalTag: "pinned"))
        let removed = try await Self.succeed(["lock", "remove", "app"], in: directory)
        #expect(removed.stdoutText == "removed app\n")
        #expect(try Self.lockFile(directory).names == ["app-b"])
        let unknown = try await Self.hocker(["lock", "update", "nothing"], in: directory)
        #expect(unknown.status == 2)
        #expect(unknown.stderrText.contains("hocker.lock.json has no entry nothing (its entries: app-b)"), "\(unknown.stderrText)")
    }

    /// A registry that gives no digest on HEAD, and one that does not do
    /// HEAD at all: update falls back to a GET of the manifest, and finds
    /// nothing moved.
    @Test(arguments: [
        FaultAction.respond(status: 200, headers: ["Content-Type": "application/vnd.oci.image.index.v1+json"]),
        FaultAction.respond(status: 405),
    ])
    func noDigestOnHEAD(_ answer: FaultAction) async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("nodigest")
        let image = try await fixture.open.push(fixture.multi, repository: "\(prefix)/app", tag: "v1")
        let directory = try Scratch.directory("lock-nodigest")
        defer { Scratch.remove(directory) }
        try await withFaultProxy(in: fixture.open) { proxy in
            let reference = "\(proxy.hostPort)/\(image.repository):v1"
            try await Self.succeed(["lock", "add", reference], in: directory)
            proxy.add(.manifestHEADs, answer)
            let before = proxy.requests.count
            let update = try await Self.succeed(["lock", "update", "--json"], in: directory)
            let report = try JSONDecoder().decode(LockReport.self, from: update.stdout)
            #expect(report.unchanged == ["app"] && report.changed.isEmpty)
            let asked = proxy.requests.dropFirst(before).map { "\($0.method) \($0.path)" }
            #expect(asked == ["HEAD /v2/\(image.repository)/manifests/v1", "GET /v2/\(image.repository)/manifests/v1"])
        }
    }

    /// One `--max-time` for the whole run, across entries and registries:
    /// four entries behind two registries that stall every HEAD for 6 s,
    /// one entry at a time, end together after about 2 s — not 2 s each —
    /// every entry with its line and kept as it was.
    @Test func oneTimeLimitForTheRun() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("maxtime")
        let image = try await fixture.open.push(fixture.single, repository: "\(prefix)/app", tag: "v1")
        let directory = try Scratch.directory("lock-maxtime")
        defer { Scratch.remove(directory) }
        try await withFaultProxy(in: fixture.open) { first in
            try await withFaultProxy(in: fixture.open) { second in
                for (proxy, names) in [(first, ["a", "b"]), (second, ["c", "d"])] {
                    for name in names {
                        try await Self.succeed(["lock", "add", "--name", name, "\(proxy.hostPort)/\(image.repository):v1"], in: directory)
                    }
                    proxy.add(.manifestHEADs, .stallBeforeHeaders(.seconds(6)))
                }
                let before = try Self.bytes(directory)
                let started = ContinuousClock.now
                let update = try await Self.hocker(["lock", "update", "--jobs", "1", "--max-time", "2"], in: directory)
                let elapsed = update.duration ?? ContinuousClock.now - started
                #expect(update.status == 1)
                #expect(elapsed < .seconds(5), "took \(elapsed): the limit is not the run's")
                let errors = update.stderrText.split(separator: "\n").filter { $0.hasPrefix("hocker: error: ") }
                #expect(errors.count == 5, "\(update.stderrText)")
                for name in ["a", "b", "c", "d"] {
                    #expect(errors.contains { $0.hasPrefix("hocker: error: \(name): gave up on ") && $0.contains("within the time limit of 2 s") }, "\(name): \(update.stderrText)")
                }
                #expect(errors.last == "hocker: error: 4 of 4 entries failed (a, b, c, d); hocker.lock.json keeps them as they were")
                #expect(try Self.bytes(directory) == before)
            }
        }
    }

    // MARK: Look-ups

    /// `hocker tags` against a registry that pages its tag list: every tag,
    /// one page after another.
    @Test func tagsFollowThePages() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("tags")
        let tags = ["1.0", "1.1", "2.0", "latest", "v3"]
        for tag in tags { _ = try await fixture.open.push(fixture.single, repository: "\(prefix)/app", tag: tag) }
        try await withFaultProxy(in: fixture.open) { proxy in
            proxy.add(.tagLists, .pageTagList(size: 2))
            let result = try await HockerBinary.run("hocker", ["tags", "\(proxy.hostPort)/\(prefix)/app"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText == tags.joined(separator: "\n") + "\n")
            let pages = proxy.requests.filter { $0.kind == .tags }.map(\.uri)
            #expect(pages == ["/v2/\(prefix)/app/tags/list", "/v2/\(prefix)/app/tags/list?n=2&last=1.1", "/v2/\(prefix)/app/tags/list?n=2&last=latest"])

            let json = try await HockerBinary.run("hocker", ["tags", "--json", "--page-size", "3", "\(proxy.hostPort)/\(prefix)/app"])
            let document = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
            #expect(document["name"] as? String == "\(prefix)/app")
            #expect(document["tags"] as? [String] == tags)
            #expect(proxy.requests.filter { $0.kind == .tags }.count == 3 + 2)
        }
    }

    @Test func inspectJSONOfAnIndex() async throws {
        let fixture = try LockFixture.shared
        let image = try await fixture.open.push(fixture.multi, repository: "\(LockFixture.prefix("inspect"))/app", tag: "v1")
        let result = try await HockerBinary.run("hocker", ["inspect", "--json", image.reference])
        #expect(result.status == 0, "\(result.stderrText)")
        let document = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        #expect(document["digest"] as? String == image.digest)
        #expect(document["mediaType"] as? String == "application/vnd.oci.image.index.v1+json")
        #expect(document["reference"] as? String == image.reference)
        let images = try #require(document["images"] as? [[String: Any]])
        #expect(images.map { $0["platform"] as? String } == ["linux/amd64", "linux/arm64/v8"])
        for (entry, pushed) in zip(images, image.manifests) {
            #expect(entry["manifestDigest"] as? String == pushed.digest)
            #expect(entry["manifestSize"] as? Int == pushed.size)
            #expect(entry["configDigest"] as? String == pushed.configDigest)
            #expect(entry["size"] as? Int == pushed.configSize + pushed.layers.reduce(0) { $0 + $1.size })
            #expect(entry["created"] as? String == "1970-01-01T00:00:00Z")
            #expect(entry["labels"] as? [String: String] == LockFixture.labels)
        }
        let raw = try await HockerBinary.run("hocker", ["inspect", "--raw", image.reference])
        #expect(raw.stdout == image.manifestBytes)
        let rawArm = try await HockerBinary.run("hocker", ["inspect", "--raw", "--platform", "linux/arm64", image.reference])
        #expect(rawArm.stdout == image.manifest(for: .linuxARM64)?.bytes)
    }

    /// `hocker digest` is one HEAD; with --platform, the index and no more.
    @Test func digestIsOneHEAD() async throws {
        let fixture = try LockFixture.shared
        let prefix = LockFixture.prefix("digest")
        let image = try await fixture.open.push(fixture.multi, repository: "\(prefix)/app", tag: "v1")
        let log = AccessLog(fixture.open)
        let plain = try await HockerBinary.run("hocker", ["digest", image.reference])
        #expect(plain.stdoutText == image.digest + "\n", "\(plain.stderrText)")
        #expect(log.requests(in: "\(prefix)/app") == [LoggedRequest(method: "HEAD", path: "/v2/\(prefix)/app/manifests/v1", status: 200)])
        let arm = try await HockerBinary.run("hocker", ["digest", "--platform", "linux/arm64", image.reference])
        #expect(arm.stdoutText == (image.manifest(for: .linuxARM64)?.digest ?? "?") + "\n", "\(arm.stderrText)")
        #expect(log.requests(in: "\(prefix)/app").map(\.method) == ["HEAD", "GET"])
    }
}
