import Foundation
import RegistryTestBed
import Testing

/// Whether the daemon tests can run: as root, with dockerd, podman and the
/// registry tools — or HOCKER_REQUIRE_INTEGRATION=1 says to run (and fail) without them.
enum DaemonBed {
    static var unavailable: [String] {
        TestDaemon.Kind.allCases.compactMap { TestDaemon.unavailableReason($0) } + (TestTools.missing(Integration.tools).isEmpty ? [] : ["the registry tools"])
    }

    static var enabled: Bool { unavailable.isEmpty || TestTools.requireIntegration() }

    static var skipReason: Comment {
        "daemon tests skipped: \(unavailable.joined(separator: "; ")) (set HOCKER_REQUIRE_INTEGRATION=1 to fail instead)"
    }
}

/// An image in the registry and its docker-archive as `hocker image` wrote it.
struct ArchivedImage: Sendable {
    /// `127.0.0.1:PORT/REPO:TAG`: the name the archive gives it.
    var reference: String
    var archive: String
    /// `sha256:` of its config: the image ID a daemon keeps it under.
    var id: String
    var size: Int
}

/// One Docker engine and one podman service, started once for the suite,
/// and a registry holding the images whose archives the tests load.
final class DaemonFixture: SuiteFixture {
    let registry: TestRegistry
    let docker: TestDaemon
    let podman: TestDaemon
    let directory: String
    /// Three layers, random bytes.
    let layered: ArchivedImage
    /// The same image under another name: same ID, other RepoTags.
    let renamed: ArchivedImage
    /// One layer with a static executable: `docker run` runs it.
    let runnable: ArchivedImage
    private let images: [TestImage]

    private init(
        registry: TestRegistry, docker: TestDaemon, podman: TestDaemon, directory: String, layered: ArchivedImage, renamed: ArchivedImage,
        runnable: ArchivedImage, images: [TestImage]
    ) {
        self.registry = registry
        self.docker = docker
        self.podman = podman
        self.directory = directory
        self.layered = layered
        self.renamed = renamed
        self.runnable = runnable
        self.images = images
    }

    func daemon(_ kind: TestDaemon.Kind) -> TestDaemon { kind == .docker ? docker : podman }

    static func start() async throws -> DaemonFixture {
        async let docker = TestDaemon.start(.docker)
        async let podman = TestDaemon.start(.podman)
        async let registry = TestRegistry.start(auth: .open)
        let directory = try Scratch.directory("daemon")
        let built = try await TestImageBuilder().build(
            tag: "v1",
            layers: [
                TestLayerSpec(seed: "daemon-base", approximateSize: 2_000_000), TestLayerSpec(seed: "daemon-mid", approximateSize: 500_000),
                TestLayerSpec(seed: "daemon-top", approximateSize: 4_000, fileCount: 1),
            ])
        let openRegistry = try await registry
        _ = try await openRegistry.push(built, repository: "load/layered", tag: "v1", format: .dockerSchema2)
        _ = try await openRegistry.push(built, repository: "load/renamed", tag: "v2", format: .dockerSchema2)
        let runnableArchive = directory + "/runnable-source.tar"
        try await RunnableTestImage.writeArchive(to: runnableArchive, repoTag: "runnable:source")
        try await Skopeo.copy("docker-archive:\(runnableArchive)", "docker://\(openRegistry.hostPort)/load/runnable:v1")
        let layered = try await archive("\(openRegistry.hostPort)/load/layered:v1", in: directory)
        let renamed = try await archive("\(openRegistry.hostPort)/load/renamed:v2", in: directory)
        let runnable = try await archive("\(openRegistry.hostPort)/load/runnable:v1", in: directory)
        return try await DaemonFixture(
            registry: openRegistry, docker: docker, podman: podman, directory: directory, layered: layered, renamed: renamed,
            runnable: runnable, images: [built])
    }

    /// `hocker image --out DIR/NAME.tar REFERENCE`, and the ID its manifest.json names.
    static func archive(_ reference: String, in directory: String) async throws -> ArchivedImage {
        let path = directory + "/" + reference.split(separator: "/").last!.replacingOccurrences(of: ":", with: "-") + ".tar"
        let result = try await HockerBinary.run("hocker", ["image", "-q", "--out", path, reference])
        guard result.status == 0 else { throw TestBedError.processFailed(command: "hocker image \(reference)", status: result.status, stderrTail: result.stderrText) }
        let inspected = try await Skopeo.run(["inspect", "--raw", "--config", "docker-archive:\(path)"])
        let id = sha256Digest(inspected.stdout)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return ArchivedImage(reference: reference, archive: path, id: id, size: size)
    }

    func stop() {
        docker.stop()
        podman.stop()
        registry.stop()
        for image in images { image.remove() }
        Scratch.remove(directory)
    }

    @TaskLocal static var current: DaemonFixture?
    static var scope: TaskLocal<DaemonFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<DaemonFixture> {
    /// A Docker engine, a podman service and a registry, shared by the suite's tests.
    static var daemons: Self { Self() }
}
