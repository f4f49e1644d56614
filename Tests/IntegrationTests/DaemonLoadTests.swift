import Foundation
import RegistryTestBed
import Testing

/// `hocker load` against a real Docker engine and podman's API service:
/// what the daemon lacks is sent, what it has is only named, and its
/// refusals and absences are said in words a person can act on.
@Suite("Loading into daemons", .serialized, .daemons, .enabled(if: DaemonBed.enabled, DaemonBed.skipReason))
struct DaemonLoadTests {
    /// The most a load that sends no archive may send: a ping, a version, a
    /// lookup and a tag or two, headers included.
    static let requestBytesOnly = 4096

    /// Runs `hocker load ARGUMENTS --host HOST`.
    static func load(_ arguments: [String], host: String, environment: [String: String] = [:]) async throws -> ProcessResult {
        try await HockerBinary.run("hocker", ["load", "--host", host] + arguments, environment: environment)
    }

    /// Through a counting proxy in front of `daemon`.
    static func withProxy<T>(_ daemon: TestDaemon, _ body: (CountingSocketProxy) async throws -> T) async throws -> T {
        let proxy = try CountingSocketProxy(socketPath: daemon.directory + "/proxy-\(UUID().uuidString.prefix(6)).sock", targetPath: daemon.socketPath)
        defer { proxy.stop() }
        return try await body(proxy)
    }

    @Test("cold: the archive goes; warm: only asked, nothing sent", arguments: TestDaemon.Kind.allCases)
    func coldThenWarm(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.layered
        try await daemon.removeImage(image.id)
        try await Self.withProxy(daemon) { proxy in
            let cold = try await Self.load(["-i", image.archive], host: proxy.host)
            #expect(cold.status == 0, "\(cold.stderrText)")
            #expect(cold.stdoutText.contains("Loaded image: \(image.reference)"), "\(cold.stdoutText)")
            #expect(proxy.bytesToDaemon >= image.size)
            #expect(try daemon.repoTags(of: image.id)?.contains { $0.hasSuffix(image.reference) } == true)

            proxy.reset()
            let warm = try await Self.load(["-i", image.archive], host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText == "Already loaded: \(image.reference) (\(image.id.prefix(19)))\n")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly, "a warm load sent \(proxy.bytesToDaemon) bytes")

            // The same image under another name: only the name is set.
            proxy.reset()
            let renamed = try await Self.load(["-i", fixture.renamed.archive], host: proxy.host)
            #expect(renamed.status == 0, "\(renamed.stderrText)")
            #expect(renamed.stdoutText.hasPrefix("Tagged image: \(fixture.renamed.reference) ("), "\(renamed.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly)
            let tags = try #require(try daemon.repoTags(of: image.id))
            #expect(tags.contains { $0.hasSuffix(fixture.renamed.reference) } && tags.contains { $0.hasSuffix(image.reference) }, "\(tags)")
        }
    }

    /// docker reads `name:tag` as Docker Hub's, podman as `localhost/name:tag`:
    /// either way a second load finds the name already there.
    @Test("a name without a registry, as each daemon keeps it", arguments: TestDaemon.Kind.allCases)
    func shortName(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let archive = fixture.directory + "/short-\(kind).tar"
        let id = try await RunnableTestImage.writeArchive(to: archive, repoTag: "hocker-test/short:v1")
        try await daemon.removeImage(id)
        let cold = try await Self.load(["-i", archive], host: daemon.host)
        #expect(cold.status == 0, "\(cold.stderrText)")
        try await Self.withProxy(daemon) { proxy in
            let warm = try await Self.load(["-i", archive], host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: hocker-test/short:v1 ("), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly)
        }
    }

    @Test("--force sends the archive even when the daemon has the image", arguments: TestDaemon.Kind.allCases)
    func force(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.runnable
        _ = try await Self.load(["-i", image.archive], host: daemon.host)
        try await Self.withProxy(daemon) { proxy in
            let forced = try await Self.load(["--force", "-i", image.archive], host: proxy.host)
            #expect(forced.status == 0, "\(forced.stderrText)")
            #expect(forced.stdoutText.contains("Loaded image: "), "\(forced.stdoutText)")
            #expect(proxy.bytesToDaemon >= image.size)
        }
    }

    @Test("standard input: hocker's archive is known from its first blocks", arguments: TestDaemon.Kind.allCases)
    func fromStandardInput(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.layered
        try await daemon.removeImage(image.id)
        try await daemon.removeImage(fixture.renamed.id)
        let command = "cat '\(image.archive)' | '\(HockerBinary.path("hocker"))' load --host '\(daemon.host)'"
        let cold = try await runProcess("/bin/bash", ["-c", command], environment: HockerBinary.isolatedEnvironment)
        #expect(cold.status == 0, "\(cold.stderrText)")
        #expect(cold.stdoutText.contains("Loaded image: \(image.reference)"), "\(cold.stdoutText)")
        try await Self.withProxy(daemon) { proxy in
            // Warm: the rest of the pipe is read and dropped; cat ends well.
            let warmCommand = "set -o pipefail; cat '\(image.archive)' | '\(HockerBinary.path("hocker"))' load --host '\(proxy.host)'"
            let warm = try await runProcess("/bin/bash", ["-c", warmCommand], environment: HockerBinary.isolatedEnvironment)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: \(image.reference)"), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly)
        }
    }

    @Test("several archives at once, each reported", arguments: TestDaemon.Kind.allCases)
    func several(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        try await daemon.removeImage(fixture.layered.id)
        try await daemon.removeImage(fixture.runnable.id)
        let result = try await Self.load(
            ["--jobs", "2", "-i", fixture.layered.archive, "-i", fixture.runnable.archive, "-i", fixture.renamed.archive], host: daemon.host)
        #expect(result.status == 0, "\(result.stderrText)")
        for image in [fixture.layered, fixture.runnable, fixture.renamed] {
            #expect(result.stdoutText.contains(image.reference), "\(result.stdoutText)")
            #expect(try daemon.hasImage(image.id))
        }
        #expect(result.stderrText.contains("3 archives:"), "\(result.stderrText)")
    }

    @Test("a loaded image runs: docker run --network none")
    func runsLoadedImage() async throws {
        let fixture = try DaemonFixture.shared
        let image = fixture.runnable
        try await fixture.docker.removeImage(image.id)
        let loaded = try await Self.load(["-i", image.archive], host: fixture.docker.host)
        #expect(loaded.status == 0, "\(loaded.stderrText)")
        let run = try await fixture.docker.client(["run", "--rm", "--network", "none", image.reference])
        #expect(run.status == 0, "\(run.stderrText)")
        #expect(run.stdoutText.hasPrefix(RunnableTestImage.expectedOutputPrefix), "\(run.stdoutText)")
    }

    /// A docker-archive whose one layer is not a tar: docker answers 200 and
    /// then an error message; podman answers 500. Either way the daemon's words, exit 1.
    @Test("a broken layer: the daemon's own words, exit 1", arguments: TestDaemon.Kind.allCases)
    func brokenLayer(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let path = try await BrokenArchive.write(in: fixture.directory, layer: Array(repeating: 0x5A, count: 20_000), name: "broken-\(kind)")
        let result = try await Self.load(["-i", path], host: daemon.host)
        #expect(result.status == 1)
        let failure = FailureOutput(result.stderrText)
        // The daemon named as its ping names itself: "docker 20.10.24+dfsg1", "podman 4.3.1".
        #expect(failure.errorLine.hasPrefix("hocker: error: \(kind.rawValue) "), "\(result.stderrText)")
        #expect(failure.errorLine.contains(" refused \(path): "), "\(result.stderrText)")
        #expect(result.stdoutText.isEmpty)
    }

    @Test("docker 20.10 refuses zstd layers and oci-archives: the hint says which")
    func dockerRefusesWithAReason() async throws {
        let fixture = try DaemonFixture.shared
        let zstd = try await BrokenArchive.write(in: fixture.directory, layer: [0x28, 0xB5, 0x2F, 0xFD] + Array(repeating: 1, count: 64), name: "zstd")
        let zstdResult = try await Self.load(["-i", zstd], host: fixture.docker.host)
        #expect(zstdResult.status == 1)
        #expect(zstdResult.stderrText.contains("hint: \(zstd) has zstd-compressed layers"), "\(zstdResult.stderrText)")

        let oci = fixture.directory + "/runnable-oci.tar"
        try await Skopeo.copy("docker-archive:\(fixture.runnable.archive)", "oci-archive:\(oci)")
        let ociResult = try await Self.load(["-i", oci], host: fixture.docker.host)
        #expect(ociResult.status == 1)
        #expect(ociResult.stderrText.contains("hint: \(oci) is an oci-archive"), "\(ociResult.stderrText)")
    }

    @Test("a socket this user may not open: permission denied, and what to do")
    func permissionDenied() async throws {
        let fixture = try DaemonFixture.shared
        // Root passes any file permission: hocker runs as nobody.
        let result = try await runProcess(
            "setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", HockerBinary.builtExecutable, "load", "--host", fixture.docker.host, "-i", fixture.runnable.archive],
            environment: HockerBinary.isolatedEnvironment)
        #expect(result.status == 1, "\(result.stderrText)")
        #expect(result.stderrText.contains("hocker: error: permission denied on \(fixture.docker.socketPath)"), "\(result.stderrText)")
        #expect(result.stderrText.contains("hint: add yourself to"), "\(result.stderrText)")

        // A socket of group root (mode 0660): no group to join, and none is suggested.
        try await Self.withProxy(fixture.docker) { proxy in
            try #require(chmod(proxy.socketPath, 0o660) == 0)
            let rootOnly = try await runProcess(
                "setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", HockerBinary.builtExecutable, "load", "--host", proxy.host, "-i", fixture.runnable.archive],
                environment: HockerBinary.isolatedEnvironment)
            #expect(rootOnly.status == 1, "\(rootOnly.stderrText)")
            #expect(rootOnly.stderrText.contains("hocker: error: permission denied on \(proxy.socketPath): only root may use this daemon"), "\(rootOnly.stderrText)")
            #expect(!rootOnly.stderrText.contains("usermod"), "\(rootOnly.stderrText)")
        }
    }
}

/// `hocker load` with no daemon to talk to: no root, no daemon needed.
@Suite("Loading without a daemon", .enabled(if: Integration.enabled, Integration.skipReason))
struct NoDaemonTests {
    @Test("a missing socket: which path, that nothing runs there, how to point elsewhere", arguments: [true, false])
    func missingSocket(viaVariable: Bool) async throws {
        let directory = try Scratch.directory("nodaemon")
        defer { Scratch.remove(directory) }
        let archive = directory + "/x.tar"
        try await RunnableTestImage.writeArchive(to: archive, repoTag: "x:y")
        let socket = directory + "/absent.sock"
        let result = viaVariable
            ? try await HockerBinary.run("hocker", ["load", "-i", archive], environment: ["DOCKER_HOST": "unix://\(socket)"])
            : try await HockerBinary.run("hocker", ["load", "--host", "unix://\(socket)", "-i", archive])
        #expect(result.status == 1)
        #expect(result.stderrText.contains("hocker: error: no daemon at \(socket): the socket does not exist"), "\(result.stderrText)")
        #expect(result.stderrText.contains("--host unix://"), "\(result.stderrText)")
        if viaVariable { #expect(result.stderrText.contains("DOCKER_HOST")) }
    }

    @Test("a socket nothing listens on")
    func deadSocket() async throws {
        let directory = try Scratch.directory("deadsocket")
        defer { Scratch.remove(directory) }
        let socket = try SilentSocket(path: directory + "/dead.sock", listening: false)
        defer { socket.stop() }
        let result = try await HockerBinary.run("hocker", ["load", "--host", socket.path, "-i", "/dev/null"])
        #expect(result.status == 1)
        #expect(result.stderrText.contains("no daemon at \(socket.path): the socket exists but nothing listens on it"), "\(result.stderrText)")
    }

    @Test("a daemon that never answers: --max-time ends the run")
    func stalledDaemon() async throws {
        let directory = try Scratch.directory("stalled")
        defer { Scratch.remove(directory) }
        let socket = try SilentSocket(path: directory + "/stalled.sock", listening: true)
        defer { socket.stop() }
        let result = try await HockerBinary.run("hocker", ["load", "--host", socket.path, "--max-time", "1", "-i", "/dev/null"])
        #expect(result.status == 1)
        #expect(result.stderrText.contains("did not finish before the deadline"), "\(result.stderrText)")
        // Without the limit it would wait for ever; 15 s is room for a loaded machine to start and end the process.
        #expect(try #require(result.duration) < .seconds(15))
    }

    @Test("tcp:// is refused as a usage error")
    func otherTransport() async throws {
        let result = try await HockerBinary.run("hocker", ["load", "--host", "tcp://127.0.0.1:2375", "-i", "/dev/null"])
        #expect(result.status == 2)
        #expect(result.stderrText.contains("unix socket only"), "\(result.stderrText)")
    }
}

/// A docker-archive with one layer of given bytes (not a tar, or zstd), for refusals.
enum BrokenArchive {
    static func write(in directory: String, layer: [UInt8], name: String) async throws -> String {
        let root = directory + "/\(name)-root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let diffID = sha256Digest(Data(layer))
        let config = #"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\#(diffID)"]}}"#
        let configName = String(sha256Digest(Data(config.utf8)).dropFirst(7)) + ".json"
        try Data(config.utf8).write(to: URL(fileURLWithPath: root + "/" + configName))
        try Data(layer).write(to: URL(fileURLWithPath: root + "/layer.tar"))
        let manifest = #"[{"Config":"\#(configName)","RepoTags":["hocker-test/\#(name):v1"],"Layers":["layer.tar"]}]"#
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: root + "/manifest.json"))
        let path = directory + "/\(name).tar"
        try await runChecked("tar", ["-C", root, "-cf", path, "manifest.json", configName, "layer.tar"])
        return path
    }
}
