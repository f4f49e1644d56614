#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Subprocess
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// The process groups of the helpers a run has started and not yet seen
/// end, so that a signal that ends the run ends them too (a helper may
/// start children of its own: a keychain prompt, a cloud CLI).
public final class ChildProcesses: Sendable {
    private let groups = Mutex<Set<pid_t>>([])

    public init() {}

    func insert(_ group: pid_t) { groups.withLock { _ = $0.insert(group) } }
    func remove(_ group: pid_t) { groups.withLock { _ = $0.remove(group) } }

    /// Kills every group still running; called when the run ends early.
    public func killAll() {
        for group in groups.withLock({ $0 }) { kill(-group, SIGKILL) }
    }
}

/// A docker credential helper (`docker-credential-NAME get`), run once per
/// server by ``CredentialResolver``: bounded in time, in a process group of
/// its own that is killed with everything in it when the time is up, the
/// run is cancelled or ends; stdout and stderr read at once, so a helper
/// that writes much to one never blocks on the other.
struct CredentialHelper: Sendable {
    /// `NAME` of `docker-credential-NAME`.
    var name: String
    /// The environment it runs in, whose `PATH` it is found on.
    var environment: [String: String]
    /// Where its process group is registered while it runs.
    var children: ChildProcesses?

    /// Its answer for `serverURL`: the credential, or nil when it has none
    /// ("credentials not found"). Throws when it cannot be run, fails, or
    /// does not answer within `timeout`.
    func get(serverURL: String, timeout: Duration) async throws(RegistryError) -> ResolvedCredential? {
        let program = "docker-credential-\(name)"
        guard let path = Self.find(program, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            throw .credentialHelper(name: name, detail: "\(program) is not on PATH")
        }
        let outcome: Outcome
        do {
            outcome = try await run(path, serverURL: serverURL, timeout: timeout)
        } catch {
            throw .credentialHelper(name: name, detail: "cannot start it: \(error)")
        }
        return try answer(outcome)
    }

    /// What a run of the helper came to.
    enum Outcome: Sendable {
        case exited(status: Int32, stdout: [UInt8], stderr: [UInt8])
        case killed(signal: Int32)
        case timedOut(Duration)
    }

    private func run(_ path: String, serverURL: String, timeout: Duration) async throws -> Outcome {
        var options = PlatformOptions()
        // Its own group: killing it kills whatever it started too.
        options.processGroupID = 0
        let configuration = Configuration(
            executable: .path(FilePath(path)), arguments: ["get"],
            environment: .custom(environment.map { Array("\($0.key)=\($0.value)".utf8) }), platformOptions: options)
        let group = ProcessGroup()
        let children = children
        let input = try Self.pipe(holding: serverURL)
        let work: @Sendable () async throws -> Outcome = {
            let result = try await Subprocess.run(
                configuration, input: .fileDescriptor(input, closeAfterSpawningProcess: true), output: .bytes(limit: 1 << 20),
                error: .bytes(limit: 64 << 10)
            ) { execution in
                group.started(execution.processIdentifier.value, children: children)
            }
            group.ended(children: children)
            switch result.terminationStatus {
            case .exited(let status): return .exited(status: status, stdout: result.standardOutput, stderr: result.standardError)
            case .signaled(let signal): return .killed(signal: signal)
            }
        }
        let started = ContinuousClock.now
        let outcome: Outcome
        do {
            // Not waited for past its time: a helper whose child keeps its stdout open must not hold the run.
            outcome = try await withTaskCancellationHandler {
                try await Deadline(limit: timeout).enforce(work)
            } onCancel: {
                group.kill()
            }
        } catch is TimeLimitReached {
            outcome = .timedOut(timeout)
        }
        switch outcome {
        case .exited:
            return outcome
        case .killed, .timedOut:
            // Killed at its time (by the timeout's cancellation, which signals the helper alone), or by
            // anyone: whatever it started goes too.
            group.kill()
            group.ended(children: children)
            return ContinuousClock.now - started >= timeout ? .timedOut(timeout) : outcome
        }
    }

    /// The read end of a pipe that already holds `text`, its write end
    /// closed: the helper's standard input. Written before the helper
    /// exists, so a helper that exits without reading it (one that is
    /// broken) cannot make the write fail, nor raise SIGPIPE.
    private static func pipe(holding text: String) throws -> FileDescriptor {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let writer = FileDescriptor(rawValue: ends[1])
        defer { try? writer.close() }
        // A server URL is far smaller than a pipe's buffer (64 KiB): the write never blocks.
        _ = try writer.writeAll(Array(text.utf8))
        return FileDescriptor(rawValue: ends[0])
    }

    /// The helper's process group, once it has started.
    private final class ProcessGroup: Sendable {
        private let leader = Mutex<pid_t?>(nil)

        func started(_ pid: pid_t, children: ChildProcesses?) {
            leader.withLock { $0 = pid }
            children?.insert(pid)
        }

        func ended(children: ChildProcesses?) {
            if let pid = leader.withLock({ $0 }) { children?.remove(pid) }
        }

        /// Kills the helper and everything it started.
        func kill() {
            if let pid = leader.withLock({ $0 }) { _ = killpg(pid, SIGKILL) }
        }
    }

    /// The credential in a helper's answer, or the error it amounts to.
    private func answer(_ outcome: Outcome) throws(RegistryError) -> ResolvedCredential? {
        switch outcome {
        case .timedOut(let timeout):
            throw .credentialHelper(name: name, detail: "it did not answer within \(timeout.wholeSeconds) s, and was stopped")
        case .killed(let signal):
            throw .credentialHelper(name: name, detail: "it was killed by signal \(signal)")
        case .exited(let status, let stdout, let stderr):
            let errorText = String(decoding: stderr, as: UTF8.self)
            guard status == 0 else {
                if (String(decoding: stdout, as: UTF8.self) + errorText).lowercased().contains("credentials not found") { return nil }
                // Its stderr says why (a locked keychain); stdout is never
                // quoted, as a helper may print a secret there.
                let reason = errorText.split(whereSeparator: \.isNewline).last.map { ": " + $0.prefix(200) } ?? ""
                throw .credentialHelper(name: name, detail: "exit status \(status)\(reason)")
            }
            return try Self.credential(parsing: stdout, name: name)
        }
    }

    /// `{"Username": …, "Secret": …}`; the user `<token>` marks an identity token.
    static func credential(parsing bytes: [UInt8], name: String) throws(RegistryError) -> ResolvedCredential {
        struct HelperAnswer: Decodable {
            var Username: String?
            var Secret: String?
        }
        guard let answer = try? JSONDecoder().decode(HelperAnswer.self, from: Data(bytes)), let secret = answer.Secret else {
            throw .credentialHelper(name: name, detail: "its answer is not the JSON a credential helper prints")
        }
        let origin = "docker-credential-\(name)"
        if answer.Username == "<token>" { return ResolvedCredential(.identityToken(secret), origin: origin) }
        return ResolvedCredential(.basic(username: answer.Username ?? "", password: secret), origin: origin)
    }

    /// The first executable `name` in the directories of `path`.
    static func find(_ name: String, path: String) -> String? {
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
