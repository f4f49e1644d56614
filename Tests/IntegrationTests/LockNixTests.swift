import Foundation
import NixExpression
import RegistryTestBed
import Testing

// nix/'s fromLock against a lock file `hocker lock add` wrote. These tests
// belong to the NixBuildTests suite (its traits are on its declaration in
// NixBuildTests.swift): they share its registries and run serialized with
// its builds, through NixBed's nix-build helpers.

extension NixBuildTests {
    /// `(import nix { ... }).fromLock ./hocker.lock.json`: one attribute per
    /// entry, each built with nix-build and loaded with podman under the
    /// name its entry says; the multi-platform entry for another system;
    /// the very derivations fetchImage makes of `docker2nix --json`; the
    /// htpasswd entry with credentials from the environment only.
    @Test func fromLockBuildsEveryEntry() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-lock")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Images of its own, with blobs no other test has put in the store:
        // the other tests' first builds must fetch theirs.
        let run = UUID().uuidString.prefix(8).lowercased()
        let builder = TestImageBuilder()
        let base = TestLayerSpec(seed: "nix-lock-base-\(run)", approximateSize: 20_000, sharedAcrossPlatforms: true)
        let top = TestLayerSpec(seed: "nix-lock-top-\(run)", approximateSize: 3_000, fileCount: 1)
        let singleLayout = try await builder.build(tag: "v1", layers: [base, top])
        let multiLayout = try await builder.build(tag: "v1", platforms: [.linuxAMD64, .linuxARM64], layers: [base, top])
        // Nothing shared with the others, so its blobs need the credentials.
        let secretLayout = try await builder.build(tag: "v1", layers: [TestLayerSpec(seed: "nix-lock-secret-\(run)", approximateSize: 5_000, fileCount: 1)])
        defer { singleLayout.remove(); multiLayout.remove(); secretLayout.remove() }
        let two = try await fixture.open.push(singleLayout, repository: "lock-\(run)/two", tag: "v1")
        let multi = try await fixture.open.push(multiLayout, repository: "lock-\(run)/multi", tag: "v1")
        let secretImage = try await fixture.basic.push(secretLayout, repository: "lock-\(run)/app", tag: "v1")

        let credentials = ["DOCKER_USER": NixFixture.alice.user, "DOCKER_PASS": NixFixture.alice.password]
        func lock(_ arguments: [String], environment: [String: String] = [:]) async throws {
            let result = try await HockerBinary.run("hocker", ["lock"] + arguments, environment: environment, directory: directory)
            try #require(result.status == 0, "hocker lock \(arguments.joined(separator: " ")): \(result.stderrText)")
        }
        try await lock(["add", "--final-name", "pinned/two:stable", two.reference])
        try await lock(["add", "--platform", "all", multi.reference])
        try await lock(["add", "--name", "secret", secretImage.reference], environment: credentials)
        let lockFile = directory + "/hocker.lock.json"
        #expect(!(try String(contentsOfFile: lockFile, encoding: .utf8)).contains(NixFixture.alice.password))

        let images = NixExpr.call(.select(NixBed.hockerLibrary(), ["fromLock"]), .path(lockFile))
        let names = try await NixBed.evaluate(.call(.select(.variable("builtins"), ["attrNames"]), images)) as? [String]
        #expect(names == ["multi", "secret", "two"])

        let builtTwo = try await NixBed.build(.select(images, ["two"]))
        let loaded = try await Podman.load(archive: builtTwo.path)
        #expect(loaded.contains("Loaded image: localhost/pinned/two:stable") || loaded.contains("Loaded image: pinned/two:stable"), "\(loaded)")

        // The same derivation fetchImage makes of docker2nix --json: every blob shared.
        let json = try NixBed.write(try await NixBed.docker2nix(["--json"] + fixture.arguments(multi)), "multi.json", in: directory)
        let fromJSON = NixExpr.call(.select(NixBed.hockerLibrary(), ["fetchImageFromJSON"]), .path(json))
        let paths = try #require(try await NixBed.evaluate(.list([
            .select(.select(images, ["multi"]), ["drvPath"]), .select(fromJSON, ["drvPath"]),
            .select(.select(images, ["multi"]), ["config", "outPath"]), .select(fromJSON, ["config", "outPath"]),
        ])) as? [String])
        #expect(paths.count == 4 && paths[0] == paths[1] && paths[2] == paths[3], "\(paths)")

        for (system, architecture) in [("x86_64-linux", "amd64"), ("aarch64-linux", "arm64")] {
            let forSystem = NixExpr.call(.select(NixBed.hockerLibrary(), ["fromLock"]), .attrs([
                .attr("lockFile", .path(lockFile)), .attr("system", .string(system)),
            ]))
            let built = try await NixBed.build(.select(forSystem, ["multi"]))
            let inspect = try await Podman.loadAndInspect(archive: built.path, image: multi.reference)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [[String: Any]])
            #expect(object.first?["Architecture"] as? String == architecture, "\(system)")
        }

        let refused = try await NixBed.nixBuild(.select(images, ["secret"]))
        #expect(!refused.succeeded)
        let secret = try await NixBed.build(.select(images, ["secret"]), environment: credentials)
        let secretLoaded = try await Podman.load(archive: secret.path)
        #expect(secretLoaded.contains("Loaded image: \(secretImage.reference)"), "\(secretLoaded)")
    }
}
