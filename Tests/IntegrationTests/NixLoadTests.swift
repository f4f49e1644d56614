import Foundation
import NixExpression
import RegistryTestBed
import Testing

/// nix/'s load scripts, built with `nix-build --option sandbox true` and run
/// against the test dockerd and podman: a streamed image and a whole lock
/// loaded with no network, the second time with nothing sent.
@Suite(
    "nix/ images into daemons", .serialized,
    .enabled(if: SandboxBed.enabled && DaemonBed.enabled, "\(SandboxBed.skipComment); \(DaemonBed.skipReason)"),
    .sandboxRegistries, .daemons)
struct NixLoadTests {
    /// A runnable image pushed to the sandbox's https registry under a new
    /// name, and removed from `daemon`: its reference.
    static func pushRunnable(_ fixture: SandboxFixture, in directory: String, removingFrom daemon: TestDaemon) async throws -> String {
        let archive = directory + "/runnable.tar"
        let id = try await RunnableTestImage.writeArchive(to: archive, repoTag: "runnable:nix")
        try await daemon.removeImage(id)
        let reference = "\(fixture.open.hostPort)/nixload/runnable-\(UUID().uuidString.prefix(6).lowercased()):v1"
        try await Skopeo.copy("docker-archive:\(archive)", "docker://\(reference)", destinationCertDirectory: fixture.open.tls?.clientDirectory)
        return reference
    }

    /// `LIBRARY.FUNCTION ARGUMENT` of the sandbox's library.
    static func libraryCall(_ function: String, _ argument: NixExpr, hocker: String, cacert: String) -> NixExpr {
        .call(.select(SandboxBed.library(hocker: hocker, cacert: cacert), [function]), argument)
    }

    /// Runs a load script against `host`.
    static func runScript(_ script: String, host: String) async throws -> ProcessResult {
        try await runProcess(script, ["--host", host], environment: HockerBinary.isolatedEnvironment, timeout: .seconds(300))
    }

    @Test("loadImage of a streamed image: loaded from the store, runs with --network none; again, nothing sent", arguments: TestDaemon.Kind.allCases)
    func streamedImage(_ kind: TestDaemon.Kind) async throws {
        let sandbox = try SandboxFixture.shared
        let daemon = try DaemonFixture.shared.daemon(kind)
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-load-\(kind)")
        defer { Scratch.remove(directory) }
        let ca = sandbox.ca.certificatePath
        let reference = try await Self.pushRunnable(sandbox, in: directory, removingFrom: daemon)
        let text = try await NixBed.docker2nix(["--format", "hocker", reference], environment: sandbox.docker2nixEnvironment)
        let file = try NixBed.write(text, "image.nix", in: directory)
        let streamed = Self.libraryCall("callImage", .attrs([.attr("image", .path(file)), .attr("stream", .bool(true))]), hocker: staticHocker, cacert: ca)
        let script = try await SandboxBed.build(Self.libraryCall("loadImage", streamed, hocker: staticHocker, cacert: ca))
        #expect(FileManager.default.isExecutableFile(atPath: script))

        let cold = try await Self.runScript(script, host: daemon.host)
        #expect(cold.status == 0, "\(cold.stderrText)")
        #expect(cold.stdoutText.contains("Loaded image: \(reference)"), "\(cold.stdoutText)")
        if kind == .docker {
            let run = try await daemon.client(["run", "--rm", "--network", "none", reference])
            #expect(run.status == 0, "\(run.stderrText)")
            #expect(run.stdoutText.hasPrefix(RunnableTestImage.expectedOutputPrefix), "\(run.stdoutText)")
        }
        try await DaemonLoadTests.withProxy(daemon) { proxy in
            let warm = try await Self.runScript(script, host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: \(reference) ("), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < DaemonLoadTests.requestBytesOnly, "a warm load sent \(proxy.bytesToDaemon) bytes")
        }
    }

    @Test("loadLock: every entry of a lock from the store; warm, nothing sent and no registry asked")
    func wholeLock() async throws {
        let sandbox = try SandboxFixture.shared
        let daemon = try DaemonFixture.shared.docker
        let staticHocker = try await StaticHocker.directory
        let directory = try Scratch.directory("nix-load-lock")
        defer { Scratch.remove(directory) }
        let ca = sandbox.ca.certificatePath
        let runnable = try await Self.pushRunnable(sandbox, in: directory, removingFrom: daemon)
        let single = "\(sandbox.open.hostPort)/\(sandbox.single.repository):v1"
        let lock = directory + "/hocker.lock.json"
        let added = try await HockerBinary.run(
            "hocker", ["lock", "add", "-q", "--lock-file", lock, runnable, single], environment: ["SSL_CERT_FILE": ca])
        try #require(added.status == 0, "\(added.stderrText)")
        let script = try await SandboxBed.build(Self.libraryCall("loadLock", .path(lock), hocker: staticHocker, cacert: ca))

        let cold = try await Self.runScript(script, host: daemon.host)
        #expect(cold.status == 0, "\(cold.stderrText)")
        for reference in [runnable, single] {
            #expect(cold.stdoutText.contains("Loaded image: \(reference)"), "\(cold.stdoutText)")
        }
        let run = try await daemon.client(["run", "--rm", "--network", "none", runnable])
        #expect(run.status == 0, "\(run.stderrText)")

        let before = NixBed.hockerRequests(sandbox.open)
        try await DaemonLoadTests.withProxy(daemon) { proxy in
            let warm = try await Self.runScript(script, host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.split(separator: "\n").allSatisfy { $0.hasPrefix("Already loaded: ") }, "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < 2 * DaemonLoadTests.requestBytesOnly, "a warm load sent \(proxy.bytesToDaemon) bytes")
        }
        #expect(NixBed.hockerRequests(sandbox.open) == before)
    }
}
