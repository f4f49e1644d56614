import Foundation
import RegistryTestBed
import Testing

extension RegistrySuites {
    /// `hocker image --out -`: the archive streamed in order, the same bytes
    /// as the file, read by podman and skopeo from a pipe.
    @Suite("Streamed archives")
    struct StreamTests {
        @Test("--out - gives the same bytes as --out FILE", arguments: ["docker", "oci-archive"])
        func streamedEqualsWritten(_ format: String) async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("stream")
            defer { Scratch.remove(directory) }
            for image in [fixture.single, fixture.docker] {
                let file = "\(directory)/file.tar"
                let written = try await HockerBinary.run("hocker", ["image", "-q", "--format", format, "--out", file, image.reference])
                #expect(written.status == 0, "\(written.stderrText)")
                let streamed = try await HockerBinary.run("hocker", ["image", "-q", "--format", format, "--out", "-", image.reference], directory: directory)
                #expect(streamed.status == 0, "\(streamed.stderrText)")
                #expect(streamed.stdout == (try Data(contentsOf: URL(fileURLWithPath: file))), "\(image.repository): the stream differs from the file")
                // Nothing spooled is left in TMPDIR, nothing written beside.
                #expect(Scratch.contents(directory) == ["file.tar"])
            }
        }

        @Test("hocker image --out - | podman load")
        func streamedIntoPodman() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("stream-podman")
            defer { Scratch.remove(directory) }
            let store = Podman.globalArguments(storeDirectory: "\(directory)/store").map { "'\($0)'" }.joined(separator: " ")
            let script = "'\(HockerBinary.path("hocker"))' image -q --out - \(fixture.multi.reference) | podman \(store) load"
            let result = try await runProcess("/bin/bash", ["-o", "pipefail", "-c", script], environment: HockerBinary.isolatedEnvironment)
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText.contains("Loaded image: \(fixture.multi.reference)"), "\(result.stdoutText)")
        }

        @Test("an oci-archive of every platform: skopeo reads each from the one tar")
        func ociArchiveOfEveryPlatform() async throws {
            let fixture = try RegistryFixture.shared
            let directory = try Scratch.directory("oci-archive")
            defer { Scratch.remove(directory) }
            let archive = "\(directory)/multi.tar"
            let result = try await HockerBinary.run(
                "hocker", ["image", "-q", "--format", "oci-archive", "--platform", "all", "--out", archive, fixture.multi.reference])
            #expect(result.status == 0, "\(result.stderrText)")
            for (platform, arch) in [(TestPlatform.linuxAMD64, "amd64"), (.linuxARM64, "arm64")] {
                let inspected = try await runChecked("skopeo", ["--override-arch", arch, "inspect", "oci-archive:\(archive)"])
                let info = try #require(try JSONSerialization.jsonObject(with: inspected.stdout) as? [String: Any])
                #expect(info["Architecture"] as? String == arch)
                #expect(info["Layers"] as? [String] == fixture.multi.manifest(for: platform)?.layerDigests)
            }
        }
    }
}

extension FaultTests {
    /// A streamed archive meets the faults a file does: a dropped
    /// connection is resumed without a byte out of place; a corrupt blob
    /// ends the stream with an error, not a silent archive.
    @Suite("Streamed archives under faults")
    struct StreamFaultTests {
        /// A fault on the big layer while it streams.
        enum MidBlobFault: String, Sendable, CaseIterable {
            /// Reset twice: the transfer is resumed with a `Range`.
            case reset = "a connection reset mid-blob: the stream resumes"
            /// Paused: the writer drains the spool, then takes the rest from the download itself.
            case pause = "a blob that pauses mid-way: the writer catches up and writes what follows itself"
        }

        @Test("a fault mid-blob, the same bytes as the file", arguments: [(MidBlobFault.reset, 1), (.reset, 4), (.pause, 4)])
        func faultMidBlob(_ fault: MidBlobFault, jobs: Int) async throws {
            let fixture = try FaultFixture.shared
            let directory = try Scratch.directory("stream-fault")
            defer { Scratch.remove(directory) }
            let image = fixture.small
            try await withFaultProxy(in: fixture.open) { proxy in
                // The same image through the same proxy (the name in the archive is the proxy's), written to a file.
                let file = try await HockerBinary.run(
                    "hocker", ["image", "-q", "--registry", proxy.v2URL, "--out", "\(directory)/file.tar", image.repository, image.tag])
                #expect(file.status == 0, "\(file.stderrText)")
                switch fault {
                case .reset: proxy.add(.blobGET(fixture.bigLayer.digest), .resetAfter(bytes: 100_000), times: 2)
                case .pause: proxy.add(.blobGET(fixture.bigLayer.digest), .stallAfter(bytes: 100_000, .milliseconds(700)), times: 1)
                }
                let streamed = try await HockerBinary.run(
                    "hocker", ["image", "-q", "--jobs", "\(jobs)", "--registry", proxy.v2URL, "--out", "-", image.repository, image.tag],
                    directory: directory)
                #expect(streamed.status == 0, "\(streamed.stderrText)")
                #expect(streamed.stdout == (try Data(contentsOf: URL(fileURLWithPath: "\(directory)/file.tar"))), "\(fault.rawValue)")
                #expect(Scratch.contents(directory) == ["file.tar"])
                if fault == .reset { #expect(proxy.requests.contains { $0.range != nil }, "no transfer was resumed") }
            }
        }

        @Test("a flipped byte: exit 1 naming the blob, the stream ends short")
        func corruptBlob() async throws {
            let fixture = try FaultFixture.shared
            try await withFaultProxy(in: fixture.open) { proxy in
                let image = fixture.small
                let whole = try await HockerBinary.run("hocker", ["image", "-q", "--registry", proxy.v2URL, "--out", "-", image.repository, image.tag])
                proxy.add(.blobGET(fixture.bigLayer.digest), .flipByte(at: 1000))
                let streamed = try await HockerBinary.run("hocker", ["image", "-q", "--registry", proxy.v2URL, "--out", "-", image.repository, image.tag])
                #expect(streamed.status == 1)
                #expect(streamed.stderrText.contains("digest mismatch for blob \(fixture.bigLayer.digest)"), "\(streamed.stderrText)")
                // What went out is the start of the archive, cut short: no reader can take it for a whole one.
                #expect(streamed.stdout.count < whole.stdout.count, "the stream went on past the corrupt blob")
            }
        }
    }
}
