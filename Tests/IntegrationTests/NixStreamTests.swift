import Foundation
import NixExpression
import RegistryTestBed
import Testing

/// Images from nix/ without a second copy of their layers: a streamed image
/// is a small executable over the blob store paths; an oci-archive; and a
/// default-format pin that a moved tag cannot break. Built in the sandbox.
extension NixSandboxTests {
    /// `callImage { image = FILE; ... }` of the sandbox's library.
    static func callImage(_ file: String, hocker: String, cacert: String, _ options: [NixBinding]) -> NixExpr {
        .call(.select(SandboxBed.library(hocker: hocker, cacert: cacert), ["callImage"]), .attrs([.attr("image", .path(file))] + options))
    }

    /// The store bytes (NAR sizes) of a path and what it refers to, but
    /// hocker itself, which every image shares.
    static func storeBytesBesideHocker(_ path: String) async throws -> Int64 {
        let references = try await runChecked("nix-store", ["-q", "--references", path], environment: NixBed.environment())
        let paths = [path] + references.stdoutText.split(separator: "\n").map(String.init).filter {
            $0 != path && !FileManager.default.fileExists(atPath: $0 + "/bin/hocker")
        }
        var total: Int64 = 0
        for path in paths {
            let size = try await runChecked("nix-store", ["-q", "--size", path], environment: NixBed.environment())
            total += Int64(size.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        return total
    }

    @Test("a streamed image writes the assembled archive's bytes, and adds nothing but a script to the store")
    func streamedImage() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-stream")
        defer { Scratch.remove(directory) }
        let image = fixture.single
        let text = try await NixBed.docker2nix(
            ["--format", "hocker", "\(fixture.open.hostPort)/\(image.repository):v1"], environment: fixture.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        let ca = fixture.ca.certificatePath
        let assembled = try await SandboxBed.build(Self.callImage(file, hocker: staticHocker, cacert: ca, []))
        let streamedExpression = Self.callImage(file, hocker: staticHocker, cacert: ca, [.attr("stream", .bool(true))])
        let streamed = try await SandboxBed.build(streamedExpression)
        #expect(FileManager.default.isExecutableFile(atPath: streamed))

        // Run outside the sandbox, as a person does: `$(nix-build …) | podman load`.
        let output = try await runChecked(streamed, [], environment: NixBed.environment())
        #expect(output.stdout == (try Data(contentsOf: URL(fileURLWithPath: assembled))), "the stream differs from the assembled archive")
        let store = Podman.globalArguments(storeDirectory: "\(directory)/podman").map { "'\($0)'" }.joined(separator: " ")
        let loaded = try await runProcess("/bin/bash", ["-o", "pipefail", "-c", "'\(streamed)' | podman \(store) load"], environment: NixBed.environment())
        #expect(loaded.status == 0, "\(loaded.stderrText)")
        #expect(loaded.stdoutText.contains("Loaded image: \(fixture.open.hostPort)/\(image.repository):v1"), "\(loaded.stdoutText)")

        // Deterministic: a rebuild gives the same script.
        let check = try await runProcess(
            "nix-build", ["--check", "--option", "sandbox", "true", "--option", "substituters", "", "--no-out-link", "-E", try NixPrinter().render(streamedExpression)],
            environment: NixBed.environment(), timeout: .seconds(300))
        #expect(check.status == 0, "\(check.stderrText)")

        // The store holds the blobs once and a script: not a second copy of the layers.
        let blobs = Int64(image.single.configSize) + image.single.layers.reduce(0) { $0 + Int64($1.size) }
        let streamedStore = try await Self.storeBytesBesideHocker(streamed)
        print("nix scenario | streamed image | blobs \(blobs) bytes, store of the streamed image without hocker \(streamedStore) bytes (\(String(format: "%.3f", Double(streamedStore) / Double(blobs)))x); assembled archive \(try FileManager.default.attributesOfItem(atPath: assembled)[.size] ?? 0) bytes")
        #expect(Double(streamedStore) <= Double(blobs) * 1.01 + 4096, "the streamed image adds \(streamedStore) bytes for \(blobs) bytes of blobs")
    }

    @Test("format = \"oci-archive\": skopeo and podman read the archive nix/ builds")
    func ociArchive() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-oci")
        defer { Scratch.remove(directory) }
        let image = fixture.multi
        let text = try await NixBed.docker2nix(
            ["--format", "hocker", "--platform", "all", "\(fixture.open.hostPort)/\(image.repository):v1"], environment: fixture.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        let path = try await SandboxBed.build(Self.callImage(file, hocker: staticHocker, cacert: fixture.ca.certificatePath, [.attr("format", .string("oci-archive"))]))
        let inspected = try await runChecked("skopeo", ["inspect", "oci-archive:\(path)"])
        let info = try #require(try JSONSerialization.jsonObject(with: inspected.stdout) as? [String: Any])
        #expect(info["Digest"] as? String == image.manifest(for: .linuxAMD64)?.digest)
        let loaded = try await Podman.load(archive: path)
        #expect(loaded.contains("Loaded image"), "\(loaded)")
    }

    @Test("the default format: a pin built after its tag moved still builds, its config fetched by digest")
    func pinSurvivesAMovedTag() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-moved")
        defer { Scratch.remove(directory) }
        let run = UUID().uuidString.prefix(8).lowercased()
        let builder = TestImageBuilder()
        let first = try await builder.build(tag: "v1", layers: [TestLayerSpec(seed: "moved-a-\(run)", approximateSize: 4_000, fileCount: 1)])
        let second = try await builder.build(tag: "v1", layers: [TestLayerSpec(seed: "moved-b-\(run)", approximateSize: 4_000, fileCount: 1)])
        defer {
            first.remove()
            second.remove()
        }
        let repository = "sandbox/moved-\(run)"
        let pinned = try await fixture.open.push(first, repository: repository, tag: "v1", format: .dockerSchema2)
        let text = try await NixBed.docker2nix(["\(fixture.open.hostPort)/\(repository):v1"], environment: fixture.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        // The tag moves to another image before the build.
        _ = try await fixture.open.push(second, repository: repository, tag: "v1", format: .dockerSchema2)
        let before = fixture.open.log().split(separator: "\n").count
        let path = try await SandboxBed.build(SandboxBed.image(file, hocker: staticHocker, cacert: fixture.ca.certificatePath))
        let requests = fixture.open.log().split(separator: "\n").dropFirst(before).filter { $0.contains("\"hocker/") && $0.contains(repository) }
        #expect(requests.contains { $0.contains("/blobs/\(pinned.single.configDigest)") }, "\(requests)")
        #expect(!requests.contains { $0.contains("/manifests/") }, "the tag was resolved at build time: \(requests)")
        try await ArchiveChecks.layersMatchDiffIDs(
            archive: path + "/image.tar", configDigest: pinned.single.configDigest, layerDigests: pinned.single.layerDigests)
    }

    @Test("the default format with stream = true: compositeImage.sh streams from the blobs, no image.tar in the store")
    func fetchdockerStreamed() async throws {
        let fixture = try SandboxFixture.shared
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-fetchdocker-stream")
        defer { Scratch.remove(directory) }
        let image = fixture.single
        let text = try await NixBed.docker2nix(["\(fixture.open.hostPort)/\(image.repository):v1"], environment: fixture.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        let ca = fixture.ca.certificatePath
        let assembled = try await SandboxBed.build(Self.callImage(file, hocker: staticHocker, cacert: ca, []))
        let streamed = try await SandboxBed.build(Self.callImage(file, hocker: staticHocker, cacert: ca, [.attr("stream", .bool(true))]))
        #expect(Scratch.contents(streamed) == ["compositeImage.sh"])
        let output = try await runChecked(streamed + "/compositeImage.sh", [], environment: NixBed.environment())
        #expect(output.stdout == (try Data(contentsOf: URL(fileURLWithPath: assembled + "/image.tar"))))
    }
}

extension NixBuildTests {
    /// Inside a fixed-output derivation hocker leaves the hash to Nix: a
    /// blob corrupted on the wire still fails the build, and the message
    /// names the blob (its derivation is named by the digest).
    @Test func corruptBlobFailsTheBuildNamingIt() async throws {
        let fixture = try NixFixture.shared
        let directory = try Scratch.directory("nix-corrupt")
        defer { Scratch.remove(directory) }
        let run = UUID().uuidString.prefix(8).lowercased()
        let built = try await TestImageBuilder().build(tag: "v1", layers: [TestLayerSpec(seed: "corrupt-\(run)", approximateSize: 20_000, fileCount: 1)])
        defer { built.remove() }
        let pushed = try await fixture.open.push(built, repository: "nix/corrupt-\(run)", tag: "v1")
        let layer = pushed.single.layerDigests[0]
        try await withFaultProxy(in: fixture.open) { proxy in
            let text = try await NixBed.docker2nix(["--registry", proxy.v2URL, pushed.repository, "v1"])
            let file = try NixBed.write(text, "corrupt.nix", in: directory)
            proxy.add(.blobGET(layer), .flipByte(at: 100))
            let result = try await NixBed.nixBuild(NixBed.image(file))
            #expect(!result.succeeded)
            #expect(result.stderrText.contains("hash mismatch in fixed-output derivation"), "\(result.stderrText)")
            #expect(result.stderrText.contains("docker-layer-\(layer.dropFirst(7))"), "the message does not name the blob: \(result.stderrText)")
        }
    }
}
