import Foundation
import RegistryTestBed
import Testing

extension TLSTests {
    /// Runs the static hocker in a root of its own: a directory holding only
    /// bin/hocker and /proc, both mounted in a private mount namespace (gone
    /// with the process; the binary bound in rather than copied, 100 MB
    /// each time), and `files` (relative path → contents).
    static func inEmptyRoot(
        _ arguments: [String], files: [String: String] = [:], keep: ((String) async throws -> Void)? = nil
    ) async throws -> ProcessResult {
        let staticHocker = try await StaticHocker.directory
        let root = try Scratch.directory("empty-root")
        defer { Scratch.remove(root) }
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/bin/hocker", contents: nil)
        for (path, contents) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: true, encoding: .utf8)
        }
        let script = #"mount --bind "$1" "$0/bin/hocker" && mount -t proc proc "$0/proc" && shift && exec chroot "$0" /bin/hocker "$@""#
        let result = try await runProcess(
            "unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script, root, staticHocker + "/bin/hocker"] + arguments,
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent"], timeout: .seconds(120))
        try await keep?(root)
        return result
    }

    /// scripts/build-static's hocker stands alone: in an empty root with
    /// only /proc it prints its version and pulls an image from loopback
    /// (https tried first, then http); with an /etc/hosts it resolves a
    /// registry by name and verifies it with a cert dir in that root.
    @Test(.enabled(if: getuid() == 0 || TestTools.requireIntegration(), "needs root for chroot and mount"))
    func staticBinaryInAnEmptyRoot() async throws {
        let fixture = try TLSFixture.shared
        let version = try await Self.inEmptyRoot(["--version"])
        #expect(version.status == 0, "\(version.stderrText)")
        #expect(version.stdoutText == "2.0.0\n")

        let image = fixture.image.single
        let plain = try await Self.inEmptyRoot(["image", "--quiet", "--out", "/image.tar", Self.reference(fixture.plain)]) { root in
            try await ArchiveChecks.layersMatchDiffIDs(archive: root + "/image.tar", configDigest: image.configDigest, layerDigests: image.layerDigests)
        }
        #expect(plain.status == 0, "\(plain.stderrText)")
        #expect(plain.stdoutText == "/image.tar\n")

        let caPEM = try String(contentsOfFile: fixture.ca.certificatePath, encoding: .utf8)
        let byName = try await Self.inEmptyRoot(
            ["image", "--quiet", "--cert-dir", "/certs", "--out", "/image.tar", "registry.test:\(fixture.https.port)/\(TLSFixture.repository):v1"],
            files: ["etc/hosts": "127.0.0.1 localhost registry.test\n", "certs/ca.crt": caPEM]
        ) { root in
            try await ArchiveChecks.layersMatchDiffIDs(archive: root + "/image.tar", configDigest: image.configDigest, layerDigests: image.layerDigests)
        }
        #expect(byName.status == 0, "\(byName.stderrText)")

        // localhost from /etc/hosts, and no system bundle: the CA is not trusted, and it says so.
        let untrusted = try await Self.inEmptyRoot(
            ["manifest", "localhost:\(fixture.https.port)/\(TLSFixture.repository):v1"], files: ["etc/hosts": "127.0.0.1 localhost\n"])
        #expect(untrusted.status == 1)
        #expect(untrusted.stderrText.hasPrefix("hocker: error: the certificate of localhost:\(fixture.https.port) is not trusted (issuer: CN=hocker test CA one"), "\(untrusted.stderrText)")
        #expect(untrusted.stderrText.contains("now trusted: nothing (no system bundle found)"), "\(untrusted.stderrText)")
    }
}
