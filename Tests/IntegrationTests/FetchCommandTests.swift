import Foundation
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// The four fetch commands, under their Haskell names, against real registries.
    @Suite("Fetch commands")
    struct FetchCommandTests {
        struct Target: Sendable, CustomTestStringConvertible {
            var name: String
            var image: @Sendable (RegistryFixture) -> PushedImage
            var platform: TestPlatform?
            var testDescription: String { platform.map { "\(name) \($0)" } ?? name }
        }

        static let targets: [Target] = [
            Target(name: "OCI single-platform", image: { $0.single }),
            Target(name: "Docker schema 2", image: { $0.docker }),
            Target(name: "index", image: { $0.multi }, platform: .linuxAMD64),
            Target(name: "index", image: { $0.multi }, platform: .linuxARM64),
            Target(name: "Docker manifest list", image: { $0.multiDocker }, platform: .linuxARM64),
        ]

        static func platformArguments(_ target: Target) -> [String] {
            target.platform.map { ["--platform", $0.description] } ?? []
        }

        static func expectedManifest(_ target: Target, _ fixture: RegistryFixture) throws -> PushedManifest {
            let image = target.image(fixture)
            guard let platform = target.platform else { return image.single }
            return try #require(image.manifest(for: platform))
        }

        @Test("hocker-manifest prints the bytes of the manifest digest", arguments: targets)
        func manifestBytesMatchDigest(_ target: Target) async throws {
            let fixture = try RegistryFixture.shared
            let image = target.image(fixture)
            let result = try await HockerBinary.run(
                "hocker-manifest", ["--registry", fixture.open.v2URL, image.repository, image.tag] + Self.platformArguments(target))
            #expect(result.status == 0, "\(result.stderrText)")
            let expected = try Self.expectedManifest(target, fixture)
            #expect(sha256Digest(result.stdout) == expected.digest)
            #expect(result.stdout == expected.bytes)
        }

        @Test("--index prints the index itself")
        func indexFlag() async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run("hocker", ["manifest", "--index", "\(fixture.open.hostPort)/test/multi:v1"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(sha256Digest(result.stdout) == fixture.multi.digest)
        }

        @Test("hocker-config prints the config of the config digest", arguments: targets)
        func configBytesMatchDigest(_ target: Target) async throws {
            let fixture = try RegistryFixture.shared
            let image = target.image(fixture)
            let result = try await HockerBinary.run(
                "hocker-config", ["--registry", fixture.open.v2URL, image.repository, image.tag] + Self.platformArguments(target))
            #expect(result.status == 0, "\(result.stderrText)")
            let expected = try Self.expectedManifest(target, fixture)
            #expect(sha256Digest(result.stdout) == expected.configDigest)
            if let platform = target.platform {
                let config = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
                #expect(config?["architecture"] as? String == platform.architecture)
            }
        }

        @Test("hocker-layer writes the exact blob, as nixpkgs calls it")
        func layerAsNixpkgsCallsIt() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory()
            defer { Scratch.remove(directory) }
            for digest in fixture.single.single.layerDigests {
                let hex = String(digest.dropFirst("sha256:".count))
                let out = "\(directory)/\(hex)"
                let result = try await HockerBinary.run(
                    "hocker-layer", ["--out=\(out)", "--registry", fixture.open.v2URL, "--layer", hex, "test/single", "unused", "+RTS", "-N2", "-RTS"])
                #expect(result.status == 0, "\(result.stderrText)")
                #expect(result.stdout.isEmpty)
                #expect(try sha256Digest(file: out) == digest)
            }
            #expect(Scratch.contents(directory).count == fixture.single.single.layerDigests.count)
        }

        @Test("hocker layer -l sha256:... writes the blob to stdout")
        func layerToStdout() async throws {
            let fixture = try RegistryFixture.shared
            let digest = fixture.docker.single.layerDigests[1]
            let result = try await HockerBinary.run("hocker", ["layer", "-l", digest, "\(fixture.open.hostPort)/test/docker"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(sha256Digest(result.stdout) == digest)
        }

        @Test("hocker-image writes an archive podman loads, layers matching diff_ids", arguments: targets)
        func imageArchiveLoads(_ target: Target) async throws {
            let fixture = try RegistryFixture.shared
            let image = target.image(fixture)
            let directory = try Scratch.directory()
            defer { Scratch.remove(directory) }
            let out = "\(directory)/image.tar"
            let result = try await HockerBinary.run(
                "hocker-image", ["--out=\(out)", "--registry", fixture.open.v2URL, image.repository, image.tag] + Self.platformArguments(target))
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText == out + "\n")
            #expect(Scratch.contents(directory) == ["image.tar"])

            let expected = try Self.expectedManifest(target, fixture)
            try await ArchiveChecks.layersMatchDiffIDs(archive: out, configDigest: expected.configDigest, layerDigests: expected.layerDigests)
            let loaded = try await Podman.load(archive: out)
            #expect(loaded.contains("\(fixture.open.hostPort)/\(image.repository):\(image.tag)"), "\(loaded)")
            let inspected = try await Podman.inspectArchive(out)
            let json = try JSONSerialization.jsonObject(with: Data(inspected.utf8)) as? [String: Any]
            #expect(json?["Architecture"] as? String == (target.platform?.architecture ?? "amd64"))
        }

        @Test("--format oci writes a layout skopeo reads")
        func ociLayout() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory()
            defer { Scratch.remove(directory) }
            let out = "\(directory)/layout"
            let result = try await HockerBinary.run(
                "hocker", ["image", "--format", "oci", "--out", out, "--platform", "linux/arm64", "\(fixture.open.hostPort)/test/multi:v1"])
            #expect(result.status == 0, "\(result.stderrText)")
            let manifest = try #require(fixture.multi.manifest(for: .linuxARM64))
            let inspected = try await Skopeo.run(["inspect", "oci:\(out):v1"])
            let json = try JSONSerialization.jsonObject(with: inspected.stdout) as? [String: Any]
            #expect(json?["Architecture"] as? String == "arm64")
            #expect(json?["Digest"] as? String == manifest.digest)
            for blob in [manifest.configDigest] + manifest.layerDigests {
                let hex = String(blob.dropFirst("sha256:".count))
                #expect(try sha256Digest(file: "\(out)/blobs/sha256/\(hex)") == blob)
            }
        }

        @Test("a modern reference needs no --registry; a loopback host speaking plain http is reached over http")
        func modernReference() async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run("hocker", ["manifest", "\(fixture.open.hostPort)/test/single:v1"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(sha256Digest(result.stdout) == fixture.single.digest)
            let byDigest = try await HockerBinary.run("hocker-manifest", ["--registry", fixture.open.hostPort, "test/single", fixture.single.digest])
            #expect(sha256Digest(byDigest.stdout) == fixture.single.digest)
        }
    }
}

enum ArchiveChecks {
    /// Each layer file in a docker-archive, gunzipped, hashes to the config's diff_id at its position.
    static func layersMatchDiffIDs(archive: String, configDigest: String, layerDigests: [String]) async throws {
        let manifestJSON = try await runChecked("/usr/bin/tar", ["-xOf", archive, "manifest.json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: manifestJSON.stdout) as? [[String: Any]])
        let entry = try #require(entries.first)
        let configName = try #require(entry["Config"] as? String)
        #expect(configName == "\(configDigest.dropFirst("sha256:".count)).json")
        let layers = try #require(entry["Layers"] as? [String])
        try #require(layers.count == layerDigests.count)
        let configData = try await runChecked("/usr/bin/tar", ["-xOf", archive, configName]).stdout
        #expect(sha256Digest(configData) == configDigest)
        let config = try #require(try JSONSerialization.jsonObject(with: configData) as? [String: Any])
        let diffIDs = try #require((config["rootfs"] as? [String: Any])?["diff_ids"] as? [String])
        try #require(diffIDs.count == layers.count)
        for (index, layer) in layers.enumerated() {
            let compressed = try await runChecked("/usr/bin/tar", ["-xOf", archive, layer]).stdout
            #expect(sha256Digest(compressed) == layerDigests[index])
            let plain = try await runChecked("/bin/gzip", ["-dc"], stdin: compressed).stdout
            #expect(sha256Digest(plain) == diffIDs[index])
        }
    }
}
