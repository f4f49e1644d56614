import Foundation
import ImagePull
import ImageTrust
import RegistryTestBed
import Testing

@Suite("gpgv runs")
struct GPGVVerifierTests {
    /// A directory of the test's own, removed afterwards.
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-gpgv-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// A stand-in for gpgv that starts a child, records both process IDs, and hangs.
    static func hangingGPGV(in directory: String) throws -> (script: String, pids: String) {
        let pids = "\(directory)/pids"
        let script = "\(directory)/fake-gpgv"
        try "#!/bin/sh\nsleep 60 &\necho $$ $! > \(pids)\nwait\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        return (script, pids)
    }

    /// Whether a process is gone (or a zombie nobody has reaped yet).
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    static func waitUntilGone(_ pids: [Int32]) async throws -> Bool {
        for _ in 0..<50 {
            if pids.allSatisfy(isGone) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func recordedPIDs(_ path: String) async throws -> [Int32] {
        for _ in 0..<50 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") {
                return text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return []
    }

    @Test("a run that outlives its time is stopped with its process group, and leaves nothing behind")
    func timeout() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (script, pidFile) = try Self.hangingGPGV(in: directory)
        let temporary = "\(directory)/tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        let verifier = GPGVVerifier(executable: script, timeout: .milliseconds(700), temporaryDirectory: temporary)
        let started = ContinuousClock.now
        await #expect(throws: GPGVError.timedOut(.milliseconds(700))) {
            try await verifier.verify(message: [0xA3], keyring: [0x99])
        }
        // Not waited for to the end of its 60 s sleep; the margin is for a machine loaded by builds.
        #expect(ContinuousClock.now - started < .seconds(30))
        let pids = try await Self.recordedPIDs(pidFile)
        #expect(pids.count == 2)
        #expect(try await Self.waitUntilGone(pids), "gpgv's process group outlived the timeout: \(pids)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty)
    }

    @Test("cancelling the task kills the process group")
    func cancellation() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (script, pidFile) = try Self.hangingGPGV(in: directory)
        let verifier = GPGVVerifier(executable: script, timeout: .seconds(60), temporaryDirectory: directory)
        let task = Task { try await verifier.verify(message: [0xA3], keyring: [0x99]) }
        let pids = try await Self.recordedPIDs(pidFile)
        #expect(pids.count == 2)
        task.cancel()
        _ = await task.result
        #expect(try await Self.waitUntilGone(pids), "gpgv's process group outlived the cancellation: \(pids)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("hocker-gpgv-") }.isEmpty)
    }

    @Test(
        "a real gpgv run uses only its own directory, removed afterwards; the user's GnuPG home is not read",
        .enabled(if: TestTools.path("gpgv") != nil || TestTools.requireIntegration(), "gpgv is not installed (apt-get install gpgv)"))
    func realRun() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = directory
        let verifier = try GPGVVerifier(environment: environment)
        let keyring = try OpenPGPArmor.dearmor(try FixtureFiles.bytes("public-key.gpg"))
        let outcome = try await verifier.verify(message: try FixtureFiles.bytes("invalid-blob.signature"), keyring: keyring)
        #expect(outcome == .good(content: Array("This is not JSON\n".utf8), signingKey: FixtureKeys.gpg, primaryKey: FixtureKeys.gpg))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        let empty = try await verifier.verify(message: try FixtureFiles.bytes("invalid-blob.signature"), keyring: [])
        #expect(empty == .unknownKey(keyID: "E932F44B23E8DD43", fingerprint: FixtureKeys.gpg))
    }
}
