import Foundation
import RegistryTestBed
import Testing

/// `hocker load` of images that are no archive yet — a registry reference,
/// the entries of a lock file — streamed from the registry straight into
/// the daemon when it lacks them, and asked about only when it has them.
extension DaemonLoadTests {
    /// The requests hocker has made to the fixture's registry so far, and which.
    static func registryRequests(_ fixture: DaemonFixture) -> [String] {
        fixture.registry.log().split(separator: "\n").map(String.init).filter { $0.contains("\"hocker/") }
    }

    /// `hocker lock add` of `references` into a lock file in a new directory; its path.
    static func lockFile(_ references: [String], extra: [String] = [], named name: String) async throws -> String {
        let directory = try Scratch.directory(name)
        let path = directory + "/hocker.lock.json"
        let added = try await HockerBinary.run("hocker", ["lock", "add", "-q", "--lock-file", path] + extra + references)
        try #require(added.status == 0, "\(added.stderrText)")
        return path
    }

    @Test("a registry reference: streamed from the download when missing; manifests only when there", arguments: TestDaemon.Kind.allCases)
    func fromReference(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.layered
        try await daemon.removeImage(image.id)
        try await daemon.removeImage(fixture.renamed.id)
        try await Self.withProxy(daemon) { proxy in
            let cold = try await Self.load([image.reference], host: proxy.host)
            #expect(cold.status == 0, "\(cold.stderrText)")
            #expect(cold.stdoutText.contains("Loaded image: \(image.reference)"), "\(cold.stdoutText)")
            // The archive went, as `hocker image` writes it: its size in bytes, and a little more for the requests.
            #expect(proxy.bytesToDaemon >= image.size && proxy.bytesToDaemon < image.size + 8192, "\(proxy.bytesToDaemon) for \(image.size)")
            #expect(try daemon.repoTags(of: image.id)?.contains { $0.hasSuffix(image.reference) } == true)

            proxy.reset()
            let before = Self.registryRequests(fixture).count
            let warm = try await Self.load([image.reference], host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: \(image.reference) ("), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly, "a warm load sent \(proxy.bytesToDaemon) bytes")
            let asked = Self.registryRequests(fixture).dropFirst(before)
            #expect(!asked.isEmpty && asked.allSatisfy { $0.contains("/manifests/") }, "a warm load asked for more than manifests: \(asked)")
        }
    }

    @Test("a lock file: the ID and names from the lock, no registry request when the daemon has them", arguments: TestDaemon.Kind.allCases)
    func fromLock(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let lock = try await Self.lockFile([fixture.layered.reference], named: "load-lock-\(kind)")
        let finalLock = try await Self.lockFile(
            [fixture.runnable.reference], extra: ["--name", "app", "--final-name", "hocker-test/app:stable"], named: "load-lock-final-\(kind)")
        defer {
            Scratch.remove((lock as NSString).deletingLastPathComponent)
            Scratch.remove((finalLock as NSString).deletingLastPathComponent)
        }
        try await daemon.removeImage(fixture.layered.id)
        try await daemon.removeImage(fixture.renamed.id)
        try await daemon.removeImage(fixture.runnable.id)
        try await Self.withProxy(daemon) { proxy in
            let cold = try await Self.load(["--lock-file", lock], host: proxy.host)
            #expect(cold.status == 0, "\(cold.stderrText)")
            #expect(cold.stdoutText.contains("Loaded image: \(fixture.layered.reference)"), "\(cold.stdoutText)")
            #expect(proxy.bytesToDaemon >= fixture.layered.size)

            proxy.reset()
            let before = Self.registryRequests(fixture).count
            let warm = try await Self.load(["--lock-file", lock], host: proxy.host)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: \(fixture.layered.reference) ("), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly, "a warm load sent \(proxy.bytesToDaemon) bytes")
            #expect(Self.registryRequests(fixture).count == before, "a warm load of a lock asked the registry: \(Self.registryRequests(fixture).dropFirst(before))")
        }
        // An entry by name, loaded under its final name.
        let named = try await Self.load(["--lock-file", finalLock, "app"], host: daemon.host)
        #expect(named.status == 0, "\(named.stderrText)")
        let expectedName = kind == .docker ? "hocker-test/app:stable" : "localhost/hocker-test/app:stable"
        let tags = try daemon.repoTags(of: fixture.runnable.id) ?? []
        #expect(tags.contains(expectedName), "\(tags)")
        let missing = try await Self.load(["--lock-file", finalLock, "nosuch"], host: daemon.host)
        #expect(missing.status != 0)
        #expect(missing.stderrText.contains("nosuch"), "\(missing.stderrText)")
    }

    /// As many images streamed from the registry at once as the concurrency
    /// pool has threads (one per core): a download that writes into a full
    /// pipe must not hold a thread the daemon connections need to read it.
    @Test("as many lock entries at once as the machine has cores, each streamed from the registry: all load")
    func loadsAsWideAsThePool() async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.docker
        let count = min(max(ProcessInfo.processInfo.activeProcessorCount, 2), 16)
        let run = UUID().uuidString.prefix(6).lowercased()
        var references: [String] = []
        for index in 0..<count {
            // Larger than the pipe (1 MiB), so that writing into it waits for the daemon.
            let image = try await TestImageBuilder().build(
                tag: "v1", layers: [TestLayerSpec(seed: "wide-\(run)-\(index)", approximateSize: 6_000_000, fileCount: 2)])
            defer { image.remove() }
            _ = try await fixture.registry.push(image, repository: "load/wide\(index)", tag: run, format: .dockerSchema2)
            references.append("\(fixture.registry.hostPort)/load/wide\(index):\(run)")
        }
        let lock = try await Self.lockFile(references, named: "load-wide")
        defer { Scratch.remove((lock as NSString).deletingLastPathComponent) }

        // A run whose every pool thread is blocked is ended here: its own --max-time needs that pool too.
        let loaded = try await runProcess(
            HockerBinary.path("hocker"), ["load", "--host", daemon.host, "--jobs", "\(count)", "--lock-file", lock],
            environment: HockerBinary.isolatedEnvironment, timeout: .seconds(120))
        #expect(loaded.status == 0, "\(loaded.stderrText)")
        #expect(loaded.stdoutText.split(separator: "\n").filter { $0.hasPrefix("Loaded image: ") }.count == count, "\(loaded.stdoutText)")
        _ = try await daemon.client(["rmi", "-f"] + references)
    }

    /// Under a signature policy, a reference is checked as `hocker image`
    /// checks it, before the daemon is asked about it; a lock entry is
    /// loaded by the digest it pins.
    @Test("a reference a signature policy refuses is not loaded; a lock entry is loaded by its digest")
    func referenceUnderPolicy() async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.docker
        let image = fixture.layered
        let lock = try await Self.lockFile([image.reference], named: "load-policy")
        let directory = (lock as NSString).deletingLastPathComponent
        defer { Scratch.remove(directory) }
        let policy = directory + "/policy.json"
        try Data(#"{"default": [{"type": "reject"}]}"#.utf8).write(to: URL(fileURLWithPath: policy))
        try await daemon.removeImage(image.id)
        try await daemon.removeImage(fixture.renamed.id)

        let refused = try await Self.load(["--policy", policy, image.reference], host: daemon.host)
        #expect(refused.status == 1, "\(refused.stderrText)")
        #expect(refused.stderrText.contains("refused by \(policy)"), "\(refused.stderrText)")
        #expect(try daemon.repoTags(of: image.id) == nil, "a refused image reached the daemon")

        let pinned = try await Self.load(["--policy", policy, "--lock-file", lock], host: daemon.host)
        #expect(pinned.status == 0, "\(pinned.stderrText)")
        #expect(try daemon.repoTags(of: image.id)?.contains { $0.hasSuffix(image.reference) } == true)
    }

    @Test("docker run --network none of an image loaded from a reference and from a lock entry")
    func runsImagesFromRegistrySources() async throws {
        let fixture = try DaemonFixture.shared
        let image = fixture.runnable
        let lock = try await Self.lockFile([image.reference], extra: ["--name", "tini"], named: "load-run")
        defer { Scratch.remove((lock as NSString).deletingLastPathComponent) }
        for arguments in [[image.reference], ["--lock-file", lock, "tini"]] {
            try await fixture.docker.removeImage(image.id)
            let loaded = try await Self.load(arguments, host: fixture.docker.host)
            #expect(loaded.status == 0, "\(loaded.stderrText)")
            #expect(loaded.stdoutText.contains("Loaded image: \(image.reference)"), "\(arguments): \(loaded.stdoutText)")
            let run = try await fixture.docker.client(["run", "--rm", "--network", "none", image.reference])
            #expect(run.status == 0, "\(arguments): \(run.stderrText)")
            #expect(run.stdoutText.hasPrefix(RunnableTestImage.expectedOutputPrefix), "\(arguments): \(run.stdoutText)")
        }
    }

    /// `hocker image --out - | hocker load` under pipefail: when the daemon
    /// has the image, the rest of the pipe is read and dropped, so the
    /// producer finishes and the pipeline succeeds.
    @Test("a warm load from a pipe lets its producer finish: set -o pipefail exits 0", arguments: TestDaemon.Kind.allCases)
    func warmPipelineSucceeds(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.layered
        let loaded = try await Self.load(["-i", image.archive], host: daemon.host)
        try #require(loaded.status == 0, "\(loaded.stderrText)")
        let hocker = HockerBinary.path("hocker")
        try await Self.withProxy(daemon) { proxy in
            let command = "set -o pipefail; '\(hocker)' image -q --out - '\(image.reference)' | '\(hocker)' load --host '\(proxy.host)'"
            let warm = try await runProcess("/bin/bash", ["-c", command], environment: HockerBinary.isolatedEnvironment)
            #expect(warm.status == 0, "\(warm.stderrText)")
            #expect(warm.stdoutText.hasPrefix("Already loaded: \(image.reference)"), "\(warm.stdoutText)")
            #expect(proxy.bytesToDaemon < Self.requestBytesOnly)
        }
    }
}
