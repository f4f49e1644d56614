import Foundation
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// What a person at a shell does with hocker, and what they should see:
    /// outputs to symlinks, FIFOs, devices and stdout; platforms that do
    /// not fit; docker2nix in a loop over a list; and the messages for the
    /// mistakes people make.
    @Suite("As users run it")
    struct UserScenarioTests {
        // MARK: Outputs

        @Test("--out through a symlink replaces its target; the link stays")
        func outputThroughSymlink() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-link")
            defer { Scratch.remove(directory) }
            try Data("old".utf8).write(to: URL(fileURLWithPath: "\(directory)/target.tar"))
            try FileManager.default.createSymbolicLink(atPath: "\(directory)/link.tar", withDestinationPath: "target.tar")
            let result = try await HockerBinary.run("hocker", ["image", "-q", "--out", "\(directory)/link.tar", fixture.single.reference])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/link.tar") == "target.tar")
            try await ArchiveChecks.layersMatchDiffIDs(
                archive: "\(directory)/target.tar", configDigest: fixture.single.single.configDigest, layerDigests: fixture.single.single.layerDigests)
            #expect(Scratch.contents(directory) == ["link.tar", "target.tar"])
        }

        @Test("--out to a FIFO: the reader gets the exact bytes, the FIFO stays a FIFO", arguments: ["layer", "image"])
        func outputToFIFO(_ command: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-fifo")
            defer { Scratch.remove(directory) }
            let fifo = "\(directory)/pipe"
            #expect(mkfifo(fifo, 0o644) == 0)
            // Held open by the test as a writer of its own, so the reader's end of this very FIFO
            // sees the end of the data when hocker is done — or at once, had hocker replaced the path.
            let keeper = open(fifo, O_RDWR)
            // A reader on the other end, as `sha256sum < pipe` would be: a thread of its own, as it blocks.
            let reader = BlockingRead(path: fifo)
            let layer = fixture.single.single.layerDigests[0]
            let arguments = command == "layer" ? ["layer", "--out", fifo, "-l", layer, fixture.single.reference] : ["image", "-q", "--out", fifo, fixture.single.reference]
            let result = try await HockerBinary.run("hocker", arguments)
            close(keeper)
            let received = await reader.result()
            #expect(result.status == 0, "\(result.stderrText)")
            if command == "layer" {
                #expect(sha256Digest(received) == layer)
            } else {
                let copy = "\(directory)/received.tar"
                try received.write(to: URL(fileURLWithPath: copy))
                try await ArchiveChecks.layersMatchDiffIDs(
                    archive: copy, configDigest: fixture.single.single.configDigest, layerDigests: fixture.single.single.layerDigests)
            }
            var status = stat()
            #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
        }

        /// Character devices made with mknod in a temporary directory: a null
        /// device takes the bytes, a full one (1,7) fails naming the path.
        /// Reads a file to its end on a thread of its own, so a blocking read
        /// (a FIFO) never holds one of the few threads Swift's tasks run on.
        final class BlockingRead: @unchecked Sendable {
            private let lock = NSLock()
            private var data: Data?

            init(path: String) {
                Thread.detachNewThread { [self] in
                    let bytes = FileHandle(forReadingAtPath: path)?.readDataToEndOfFile() ?? Data()
                    lock.withLock { data = bytes }
                }
            }

            func result() async -> Data {
                while true {
                    if let data = lock.withLock({ data }) { return data }
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
        }

        /// glibc's `makedev` for small numbers (the macro is not visible to Swift).
        static func device(_ major: UInt64, _ minor: UInt64) -> dev_t {
            dev_t((major & 0xfff) << 8 | (minor & 0xff))
        }

        @Test("--out to a character device is written through, never replaced", .enabled(if: getuid() == 0, "mknod needs root"))
        func outputToDevices() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-dev")
            defer { Scratch.remove(directory) }
            #expect(mknod("\(directory)/null", S_IFCHR | 0o666, Self.device(1, 3)) == 0)
            #expect(mknod("\(directory)/full", S_IFCHR | 0o666, Self.device(1, 7)) == 0)
            let null = try await HockerBinary.run("hocker", ["image", "-q", "--out", "\(directory)/null", fixture.single.reference])
            #expect(null.status == 0, "\(null.stderrText)")
            let full = try await HockerBinary.run("hocker", ["image", "-q", "--out", "\(directory)/full", fixture.single.reference])
            #expect(full.status == 1)
            #expect(full.stderrText.contains("cannot write \(directory)/full: No space left on device"), "\(full.stderrText)")
            for name in ["null", "full"] {
                var status = stat()
                #expect(stat("\(directory)/\(name)", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR, "\(name) was replaced")
            }
            #expect(Scratch.contents(directory) == ["full", "null"])
        }

        @Test("--out - is standard output for every command that takes --out", arguments: ["manifest", "config", "layer", "image", "docker2nix"])
        func outputDash(_ command: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-dash")
            defer { Scratch.remove(directory) }
            let image = fixture.single
            var arguments = [command, "-q", "--out", "-"]
            if command == "layer" { arguments += ["-l", image.single.layerDigests[0]] }
            if command == "docker2nix" { arguments += ["--fetch"] }
            let result = try await HockerBinary.run("hocker", arguments + [image.reference], directory: directory)
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(Scratch.contents(directory).isEmpty, "a file was written: \(Scratch.contents(directory))")
            switch command {
            case "manifest": #expect(sha256Digest(result.stdout) == image.digest)
            case "config": #expect(sha256Digest(result.stdout) == image.single.configDigest)
            case "layer": #expect(sha256Digest(result.stdout) == image.single.layerDigests[0])
            case "image":
                let copy = "\(directory)/from-stdout.tar"
                try result.stdout.write(to: URL(fileURLWithPath: copy))
                try await ArchiveChecks.layersMatchDiffIDs(archive: copy, configDigest: image.single.configDigest, layerDigests: image.single.layerDigests)
            default: #expect(result.stdoutText.hasPrefix("{ fetchDockerConfig, fetchDockerLayer, fetchdocker }:"))
            }
        }

        @Test("in a pipe, image, layer and config end with a summary line on stderr; -q prints nothing", arguments: ["image", "layer", "config"])
        func summaryInAPipe(_ command: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("summary")
            defer { Scratch.remove(directory) }
            let image = fixture.single
            var arguments = [command, "--out", "\(directory)/out"]
            if command == "layer" { arguments += ["-l", image.single.layerDigests[0]] }
            let shown = try await HockerBinary.run("hocker", arguments + [image.reference])
            #expect(shown.status == 0, "\(shown.stderrText)")
            let last = shown.stderrText.split(separator: "\n").last.map(String.init) ?? ""
            let blobs = command == "image" ? "\(image.single.layerDigests.count + 1) blobs" : "1 blob"
            #expect(last.hasPrefix("\(blobs), ") && last.contains(" in "), "\(shown.stderrText)")
            let quiet = try await HockerBinary.run("hocker", [command, "-q"] + arguments.dropFirst() + [image.reference])
            #expect(quiet.status == 0, "\(quiet.stderrText)")
            #expect(quiet.stderrText.isEmpty, "\(quiet.stderrText)")
        }

        @Test("an output in a missing directory is refused naming it; nothing is requested", arguments: ["docker", "oci"])
        func outputInMissingDirectory(_ format: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-missing")
            defer { Scratch.remove(directory) }
            let result = try await HockerBinary.run("hocker", ["image", "--format", format, "--out", "\(directory)/no/such/place", fixture.single.reference])
            #expect(result.status == 1)
            #expect(result.stderrText.contains("cannot write \(directory)/no/such/place: the directory \(directory)/no/such does not exist"), "\(result.stderrText)")
            #expect(result.stderrText.contains("mkdir -p \(directory)/no/such"))
            #expect(Scratch.contents(directory).isEmpty)
        }

        @Test("an existing OCI layout is replaced whole, as an existing archive is")
        func ociLayoutReplaced() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("out-oci")
            defer { Scratch.remove(directory) }
            let layout = "\(directory)/layout"
            for image in [fixture.docker, fixture.single] {
                let result = try await HockerBinary.run("hocker", ["image", "-q", "--format", "oci", "--out", layout, image.reference])
                #expect(result.status == 0, "\(result.stderrText)")
            }
            let inspected = try await runChecked("skopeo", ["inspect", "oci:\(layout):v1"])
            let digest = try #require(try JSONSerialization.jsonObject(with: inspected.stdout) as? [String: Any])["Digest"] as? String
            #expect(digest == fixture.single.digest)
            // Nothing of the first layout is left: only the second image's blobs.
            let blobs = Set(Scratch.contents("\(layout)/blobs/sha256").map { "sha256:" + $0 })
            #expect(blobs == Set([fixture.single.digest, fixture.single.single.configDigest] + fixture.single.single.layerDigests))
            #expect(Scratch.contents(directory) == ["layout"])
        }

        // MARK: Platforms

        @Test("a single-platform image is refused for another --platform, taken with 'any' or its own", arguments: ["image", "config", "manifest"])
        func singleImageOtherPlatform(_ command: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("platform")
            defer { Scratch.remove(directory) }
            let image = fixture.arm64
            let refused = try await HockerBinary.run("hocker", [command, "--platform", "linux/amd64", "--out", "\(directory)/x", image.reference])
            #expect(refused.status == 1)
            #expect(refused.stderrText.contains("is a single linux/arm64/v8 image, not linux/amd64"), "\(refused.stderrText)")
            #expect(refused.stderrText.contains("--platform linux/arm64/v8 (or --platform any)"), "\(refused.stderrText)")
            #expect(Scratch.contents(directory).isEmpty)
            for platform in ["any", "linux/arm64"] {
                let taken = try await HockerBinary.run("hocker", [command, "-q", "--platform", platform, "--out", "\(directory)/x", image.reference])
                #expect(taken.status == 0, "\(taken.stderrText)")
            }
            // The default platform takes it as it is, saying so.
            let defaulted = try await HockerBinary.run("hocker", [command, "--out", "\(directory)/y", image.reference])
            #expect(defaulted.status == 0, "\(defaulted.stderrText)")
            if command != "manifest" {
                #expect(defaulted.stderrText.contains("hocker: warning: 127.0.0.1:\(fixture.open.port)/test/arm64:v1 is a single linux/arm64/v8 image"), "\(defaulted.stderrText)")
            }
        }

        @Test(
            "docker2nix --format hocker refuses to pin another platform for a single image, also beside its own",
            arguments: [["linux/amd64"], ["linux/arm64", "linux/amd64"]])
        func pinOtherPlatform(_ platforms: [String]) async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run(
                "docker2nix", ["--format", "hocker", "--fetch"] + platforms.flatMap { ["--platform", $0] } + [fixture.arm64.reference])
            #expect(result.status == 1)
            #expect(result.stderrText.contains("is a single linux/arm64/v8 image, not linux/amd64"), "\(result.stderrText)")
            #expect(result.stdout.isEmpty)
        }

        @Test("--platform given twice where one is taken is a usage error", arguments: ["manifest", "config", "image"])
        func repeatedPlatform(_ command: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("platform-twice")
            defer { Scratch.remove(directory) }
            let result = try await HockerBinary.run(
                "hocker", [command, "--platform", "linux/amd64", "--platform", "linux/arm64", fixture.multi.reference], directory: directory)
            #expect(result.status == 2, "\(result.stderrText)")
            #expect(Scratch.contents(directory).isEmpty)
            #expect(result.stderrText.contains(command == "image" ? "a docker-archive holds one platform" : "--platform is given 2 times"), "\(result.stderrText)")
        }

        @Test("hocker image --format oci --platform all writes the index with every platform", arguments: ["all", "two"])
        func multiPlatformLayout(_ which: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("oci-all")
            defer { Scratch.remove(directory) }
            let layout = "\(directory)/layout"
            let platforms = which == "all" ? ["--platform", "all"] : ["--platform", "linux/arm64", "--platform", "linux/amd64"]
            let result = try await HockerBinary.run("hocker", ["image", "-q", "--format", "oci", "--out", layout] + platforms + [fixture.multi.reference])
            #expect(result.status == 0, "\(result.stderrText)")
            let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))) as? [String: Any])
            let top = try #require((index["manifests"] as? [[String: Any]])?.first)
            if which == "all" {
                // The registry's own index, its digest kept.
                #expect(top["digest"] as? String == fixture.multi.digest)
            }
            for (platform, arch) in [(TestPlatform.linuxAMD64, "amd64"), (.linuxARM64, "arm64")] {
                let manifest = try #require(fixture.multi.manifest(for: platform))
                let inspected = try await runChecked("skopeo", ["--override-arch", arch, "inspect", "oci:\(layout):v1"])
                let info = try #require(try JSONSerialization.jsonObject(with: inspected.stdout) as? [String: Any])
                #expect(info["Architecture"] as? String == arch)
                #expect(info["Layers"] as? [String] == manifest.layerDigests)
                for blob in [manifest.digest, manifest.configDigest] + manifest.layerDigests {
                    #expect(try sha256Digest(file: "\(layout)/blobs/sha256/\(blob.dropFirst(7))") == blob)
                }
            }
        }

        // MARK: docker2nix and stdin

        @Test("docker2nix in a while-read loop over a list: each reference fetched, the list left to the loop")
        func docker2nixLoop() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("d2n-loop")
            defer { Scratch.remove(directory) }
            let references = [fixture.single.reference, fixture.multi.reference, fixture.docker.reference]
            try references.joined(separator: "\n").appending("\n").write(toFile: "\(directory)/images.txt", atomically: true, encoding: .utf8)
            let script = """
                n=0
                while read -r image; do
                  n=$((n+1))
                  '\(HockerBinary.path("docker2nix"))' --format hocker "$image" > "pin$n.nix" || exit 1
                done < images.txt
                echo "$n pins"
                """
            let result = try await runProcess("/bin/bash", ["-c", "cd '\(directory)' && \(script)"], environment: HockerBinary.isolatedEnvironment)
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText == "3 pins\n")
            for (index, image) in [fixture.single, fixture.multi, fixture.docker].enumerated() {
                let pin = try String(contentsOfFile: "\(directory)/pin\(index + 1).nix", encoding: .utf8)
                #expect(pin.contains("repository = \"\(image.repository)\";"), "\(pin)")
            }
        }

        @Test("a pipe that is not a manifest is refused saying stdin was read, and how to fetch instead")
        func docker2nixPipeOfSomethingElse() async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run("docker2nix", [fixture.single.reference], stdin: Data("team/app:v1\nother/app:v2\n".utf8))
            #expect(result.status == 1)
            #expect(result.stderrText.contains("docker2nix read its standard input (a pipe) for a manifest, and what it holds is not one"), "\(result.stderrText)")
            #expect(result.stderrText.contains("docker2nix --fetch"), "\(result.stderrText)")
            let fetched = try await HockerBinary.run("docker2nix", ["--fetch", fixture.single.reference], stdin: Data("team/app:v1\n".utf8))
            #expect(fetched.status == 0, "\(fetched.stderrText)")
        }

        @Test("a piped manifest with no registry named is pinned to Docker Hub, with a warning")
        func docker2nixPipedWithoutRegistry() async throws {
            let fixture = try RegistryFixture.shared
            let result = try await HockerBinary.run("docker2nix", [fixture.single.repository, "v1"], stdin: fixture.single.manifestBytes)
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stderrText.contains("hocker: warning: the manifest from stdin is pinned to Docker Hub"), "\(result.stderrText)")
            #expect(result.stdoutText.contains("registry = \"https://registry-1.docker.io/v2/\";"))
        }

        // MARK: Messages

        struct Message: Sendable, CustomTestStringConvertible {
            var name: String
            var arguments: @Sendable (_ fixture: RegistryFixture, _ directory: String) throws -> [String]
            var environment: @Sendable (_ directory: String) throws -> [String: String] = { _ in [:] }
            var status: Int32
            var says: [String]
            var saysNot: [String] = []
            var testDescription: String { name }
        }

        static let messages: [Message] = [
            Message(
                name: "an unknown repository on a local registry: no Docker Hub hint",
                arguments: { f, _ in ["manifest", "\(f.open.hostPort)/test/absent:v1"] }, status: 1,
                says: ["repository unknown: test/absent", "has no repository test/absent"], saysNot: ["library/"]),
            Message(
                name: "hocker layer with an unknown digest: no manifest is blamed",
                arguments: { f, _ in ["layer", "-l", "sha256:" + String(repeating: "a", count: 64), f.single.reference] }, status: 1,
                says: ["blob unknown: sha256:aaaa", "check the digest"], saysNot: ["the manifest names"]),
            Message(
                name: "a credentials file with no credentials: no line 0",
                arguments: { f, d in
                    try "# nothing here\n".write(toFile: "\(d)/creds", atomically: true, encoding: .utf8)
                    return ["manifest", "-f", "\(d)/creds", f.single.reference]
                }, status: 2, says: ["credentials file", "no credentials in it"], saysNot: ["line 0"]),
            Message(
                name: "PASSWORD = \"…\" with spaces is the password, quotes removed",
                arguments: { f, d in
                    try "USERNAME = \(RegistryFixture.alice.user)\nPASSWORD = \"\(RegistryFixture.alice.password)\" \n".write(
                        toFile: "\(d)/creds", atomically: true, encoding: .utf8)
                    return ["manifest", "-q", "-f", "\(d)/creds", "--out", "\(d)/m.json", "\(f.basic.hostPort)/private/app:v1"]
                }, status: 0, says: []),
            Message(
                name: "--max-time -1 reaches the option's check",
                arguments: { f, _ in ["manifest", "--max-time", "-1", f.single.reference] }, status: 2,
                says: ["--max-time takes a positive number of seconds"], saysNot: ["Missing value"]),
            Message(
                name: "a missing credsStore helper does not break an anonymous pull",
                arguments: { f, d in ["manifest", "-q", "--out", "\(d)/m.json", f.single.reference] },
                environment: { d in
                    try #"{"credsStore": "hocker-test-absent"}"#.write(toFile: "\(d)/config.json", atomically: true, encoding: .utf8)
                    return ["DOCKER_CONFIG": d]
                }, status: 0, says: []),
            Message(
                name: "a REGISTRY_AUTH_FILE that does not exist is skipped",
                arguments: { f, d in ["manifest", "-q", "--out", "\(d)/m.json", f.single.reference] },
                environment: { d in ["REGISTRY_AUTH_FILE": "\(d)/absent.json"] }, status: 0, says: []),
            Message(
                name: "a typo in the subcommand gets a suggestion",
                arguments: { f, _ in ["manfest", f.single.reference] }, status: 2, says: ["did you mean 'hocker manifest'?"]),
            Message(
                name: "options before the subcommand are the subcommand's",
                arguments: { f, d in ["-q", "manifest", "--out", "\(d)/m.json", f.single.reference] }, status: 0, says: []),
            Message(
                name: "-u alone says how to give the password",
                arguments: { f, _ in ["manifest", "-u", "alice", f.single.reference] }, status: 2, says: ["--password-stdin"]),
            Message(
                name: "an anonymous pull refused after a token: no 'after authenticating'",
                arguments: { f, _ in ["manifest", "\(f.token.hostPort)/private/app:v1"] }, status: 1,
                says: ["unauthorized: private/app", "it needs credentials"], saysNot: ["after authenticating"]),
        ]

        @Test("messages say what happened and what to do", arguments: messages)
        func message(_ message: Message) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("message")
            defer { Scratch.remove(directory) }
            let arguments = try message.arguments(fixture, directory)
            let result = try await HockerBinary.run("hocker", arguments, environment: try message.environment(directory))
            #expect(result.status == message.status, "\(result.stderrText)")
            for text in message.says { #expect(result.stderrText.contains(text), "expected '\(text)' in: \(result.stderrText)") }
            for text in message.saysNot { #expect(!result.stderrText.contains(text), "unexpected '\(text)' in: \(result.stderrText)") }
        }

        @Test("--password-stdin takes the password from standard input")
        func passwordFromStandardInput() async throws {
            let fixture = try RegistryFixture.shared
            let alice = RegistryFixture.alice
            let result = try await HockerBinary.run(
                "hocker", ["manifest", "-u", alice.user, "--password-stdin", "\(fixture.basic.hostPort)/private/app:v1"], stdin: Data((alice.password + "\n").utf8))
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(sha256Digest(result.stdout) == fixture.basicImage.digest)
        }

        @Test("inside a Nix build, hints name the build's environment, not flags")
        func nixBuilderHints() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("builder-hints")
            defer { Scratch.remove(directory) }
            let result = try await HockerBinary.run("hocker", ["nix-builder"], environment: [
                "hockerAction": "fetch-blob", "out": "\(directory)/out", "registry": fixture.basic.v2URL, "repository": "private/app",
                "digest": fixture.basicImage.single.layerDigests[0],
            ])
            #expect(result.status == 1)
            #expect(result.stderrText.contains("unauthorized: private/app"), "\(result.stderrText)")
            #expect(result.stderrText.contains("DOCKER_USER and DOCKER_PASS"), "\(result.stderrText)")
            #expect(!result.stderrText.contains("--username"), "\(result.stderrText)")
        }
    }
}
