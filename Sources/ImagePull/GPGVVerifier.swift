#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageReference
import ImageTrust
import RegistryClient
import SystemPackage

/// Verifies simple-signing signatures with GnuPG's `gpgv`, as apt verifies
/// its repositories: each call makes a directory of its own under the
/// temporary directory holding the policy's keys as a keyring, the message
/// and the extracted content; runs `gpgv --homedir` on it with nothing of
/// the user's GnuPG home or agent; reads `--status-fd` for the verdict;
/// and removes the directory.
///
/// The run is bounded by ``timeout``; `gpgv` runs in a process group of its
/// own, which is killed when the run times out or its task is cancelled.
public struct GPGVVerifier: OpenPGPVerifier {
    /// The `gpgv` executable.
    public var executable: String
    /// How long one verification may take (default 30 s).
    public var timeout: Duration
    /// Where the per-call directories are made.
    public var temporaryDirectory: String

    public init(executable: String, timeout: Duration = .seconds(30), temporaryDirectory: String) {
        self.executable = executable
        self.timeout = timeout
        self.temporaryDirectory = temporaryDirectory
    }

    /// `gpgv` found on `PATH`, the temporary directory from `TMPDIR` (else `/tmp`).
    public init(environment: [String: String], timeout: Duration = .seconds(30)) throws(GPGVError) {
        let path = environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/gpgv" }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else { throw .notFound(searched: path) }
        let tmp = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.init(executable: found, timeout: timeout, temporaryDirectory: tmp)
    }

    public func verify(message: [UInt8], keyring: [UInt8]) async throws -> OpenPGPOutcome {
        let directory = try makeDirectory()
        // Removed whatever happens; a failure to remove changes no verdict.
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write(keyring, to: "\(directory)/keyring.gpg")
        try write(message, to: "\(directory)/message")
        let arguments = [
            "--homedir", directory, "--keyring", "\(directory)/keyring.gpg", "--status-fd", "1", "--output", "\(directory)/content",
            "\(directory)/message",
        ]
        let (status, exitStatus) = try await run(arguments, home: directory)
        var content: [UInt8] = []
        if exitStatus == 0, let data = FileManager.default.contents(atPath: "\(directory)/content") { content = Array(data) }
        return GPGVStatus.outcome(status: status, exitStatus: exitStatus, content: content)
    }

    /// Runs `gpgv` as a ``BoundedProcess``: its standard output is the status lines.
    private func run(_ arguments: [String], home: String) async throws -> (String, Int32) {
        let gpgv = BoundedProcess(
            executable: executable, arguments: arguments, environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": home, "GNUPGHOME": home])
        switch try await gpgv.run(timeout: timeout) {
        case .exited(let status, let stdout, _): return (String(decoding: stdout, as: UTF8.self), status)
        case .killed(let signal): throw GPGVError.killed(signal: signal)
        case .timedOut(let timeout): throw GPGVError.timedOut(timeout)
        }
    }

    /// A new directory only this user can read (mkdtemp makes it 0700).
    private func makeDirectory() throws(GPGVError) -> String {
        var template = Array("\(temporaryDirectory)/hocker-gpgv-XXXXXX".utf8)
        template.append(0)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { mkdtemp($0) }
        }
        guard made != nil else { throw .cannotPrepare("cannot make a directory in \(temporaryDirectory): \(Errno(rawValue: errno))") }
        return String(decoding: template.dropLast(), as: UTF8.self)
    }

    private func write(_ bytes: [UInt8], to path: String) throws(GPGVError) {
        do {
            let descriptor = try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
            try descriptor.closeAfter { _ = try descriptor.writeAll(bytes) }
        } catch {
            throw .cannotPrepare("cannot write \(path): \(error)")
        }
    }
}

/// Why `gpgv` could not give a verdict.
public enum GPGVError: UserFacingError, Equatable {
    /// No `gpgv` on `PATH`.
    case notFound(searched: String)
    /// It ran longer than allowed and was killed.
    case timedOut(Duration)
    /// It was killed by a signal.
    case killed(signal: Int32)
    /// Its directory or files could not be made.
    case cannotPrepare(String)

    public var message: String {
        switch self {
        case .notFound(let searched): "gpgv, which verifies OpenPGP signatures, is not on PATH (\(searched))"
        case .timedOut(let timeout): "gpgv did not finish verifying a signature in \(timeout) and was stopped"
        case .killed(let signal): "gpgv was killed by signal \(signal) while verifying a signature"
        case .cannotPrepare(let reason): "cannot prepare the signature check: \(reason)"
        }
    }

    public var hints: [String] {
        switch self {
        case .notFound: ["install GnuPG's gpgv (Debian: apt install gpgv), which the policy's signedBy requirements need"]
        default: []
        }
    }
}
