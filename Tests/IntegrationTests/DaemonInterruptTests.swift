import Foundation
import RegistryTestBed
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C in the middle of a load, sent as a shell sends it (SIGINT to a
/// process started with no signal blocked), against the real daemons: an
/// archive cut short leaves no image; names being set are all set.
extension DaemonLoadTests {
    /// Waits until `condition` holds, at most `limit`.
    static func waitUntil(_ limit: Duration = .seconds(30), _ condition: () throws -> Bool) async throws {
        let end = ContinuousClock.now + limit
        while try !condition() {
            guard ContinuousClock.now < end else { throw TestBedError.launchFailed(command: "waiting", reason: "the condition did not hold within \(limit)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// `hocker load ARGUMENTS` started as a shell starts a job, its stdin from `stdinPath`.
    static func startLoad(_ arguments: [String], host: String, stdinPath: String = "/dev/null", directory: String) throws -> ShellProcess {
        try ShellProcess(
            HockerBinary.builtExecutable, ["load", "--host", host] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(HockerBinary.isolatedEnvironment) { $1 }, directory: directory,
            stdinPath: stdinPath)
    }

    @Test("Ctrl-C while the archive goes: exit 130, and the daemon keeps nothing of it", arguments: TestDaemon.Kind.allCases)
    func interruptedWhileSending(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let image = fixture.layered
        try await daemon.removeImage(image.id)
        try await daemon.removeImage(fixture.renamed.id)
        let directory = try Scratch.directory("interrupt-send-\(kind)")
        defer { Scratch.remove(directory) }
        // The archive arrives on a FIFO: half of it, then nothing until the signal.
        let fifo = directory + "/archive.fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let archive = try Data(contentsOf: URL(fileURLWithPath: image.archive))
        // Opened for reading and writing, so that neither this open nor the child's waits for the other.
        let descriptor = open(fifo, O_RDWR)
        try #require(descriptor >= 0)
        let writer = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try await Self.withProxy(daemon) { proxy in
            let process = try Self.startLoad([], host: proxy.host, stdinPath: fifo, directory: directory)
            defer { process.stop() }
            writer.write(archive.prefix(archive.count / 2))
            try await Self.waitUntil { proxy.bytesToDaemon > archive.count / 4 }
            process.send(SIGINT)
            let status = await process.wait(timeout: .seconds(20))
            #expect(status == 130, "\(process.stderrText)")
        }
        // The daemon dropped the archive it was reading: no image, no name.
        try await Self.waitUntil(.seconds(10)) { try !daemon.hasImage(image.id) }
        let names = try await daemon.client(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        #expect(!names.stdoutText.contains("load/layered"), "\(names.stdoutText)")
    }

    /// An image already there, given three names it lacks; a proxy holds
    /// the first tag request until SIGINT has been sent, and lets the
    /// others through slowly: all three are set before the process exits.
    @Test("Ctrl-C while an image's names are set: all of them are set, then exit 130", arguments: TestDaemon.Kind.allCases)
    func interruptedWhileTagging(_ kind: TestDaemon.Kind) async throws {
        let fixture = try DaemonFixture.shared
        let daemon = fixture.daemon(kind)
        let directory = try Scratch.directory("interrupt-tag-\(kind)")
        defer { Scratch.remove(directory) }
        let base = directory + "/base.tar"
        let id = try await RunnableTestImage.writeArchive(to: base, repoTag: "hocker-test/shield:base")
        try await daemon.removeImage(id)
        let loaded = try await Self.load(["-i", base], host: daemon.host)
        try #require(loaded.status == 0, "\(loaded.stderrText)")
        let names = ["hocker-test/shield:one", "hocker-test/shield:two", "hocker-test/shield:three"]
        let renamed = directory + "/renamed.tar"
        try await RunnableTestImage.writeArchive(to: renamed, repoTags: names)

        let proxy = try CountingSocketProxy(
            socketPath: directory + "/slow.sock", targetPath: daemon.socketPath, delaying: (text: "/tag?", delay: .milliseconds(200)), holdingFirst: true)
        defer { proxy.stop() }
        let process = try Self.startLoad(["-i", renamed], host: proxy.host, directory: directory)
        defer { process.stop() }
        try await Self.waitUntil { proxy.delayedRequests >= 1 }
        // Delivered at once: the process runs no further without taking it.
        process.send(SIGINT)
        proxy.release()
        let status = await process.wait(timeout: .seconds(30))
        #expect(status == 130, "\(process.stderrText)")
        #expect(proxy.delayedRequests == 3, "\(proxy.delayedRequests) tag requests reached the daemon")
        let tags = try #require(try daemon.repoTags(of: id))
        for name in names {
            #expect(tags.contains { $0.hasSuffix(name) }, "\(name) missing: \(tags)")
        }
    }
}
