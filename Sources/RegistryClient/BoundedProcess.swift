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

/// The process groups of the programs a run has started and not yet seen
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

/// A program hocker runs for an answer (a credential helper, `gpgv`): bounded
/// in time, in a process group of its own that is killed with everything in
/// it when the time is up, the task is cancelled or the run ends
/// (``ChildProcesses``); its standard output and error read at once, so a
/// program that writes much to one never blocks on the other. It is not
/// waited for past its time: a child that keeps the output open must not
/// hold the run.
public struct BoundedProcess: Sendable {
    /// The executable's absolute path.
    public var executable: String
    public var arguments: [String]
    /// Its whole environment: nothing of hocker's is passed on unless listed.
    public var environment: [String: String]
    /// Its standard input, at most 64 KiB (a pipe's buffer): written before
    /// it starts, so a program that exits without reading cannot make the
    /// write fail or raise SIGPIPE.
    public var input: [UInt8]
    /// How much of standard output is kept, in bytes (default 1 MiB); more fails the run.
    public var outputLimit: Int
    /// How much of standard error is kept, in bytes (default 64 KiB).
    public var errorLimit: Int
    /// Where its process group is registered while it runs.
    public var children: ChildProcesses?

    public init(
        executable: String, arguments: [String], environment: [String: String], input: [UInt8] = [], outputLimit: Int = 1 << 20,
        errorLimit: Int = 64 << 10, children: ChildProcesses? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.input = input
        self.outputLimit = outputLimit
        self.errorLimit = errorLimit
        self.children = children
    }

    /// What a run came to.
    public enum Outcome: Sendable, Equatable {
        case exited(status: Int32, stdout: [UInt8], stderr: [UInt8])
        case killed(signal: Int32)
        /// Not done within the time given: stopped, with its group.
        case timedOut(Duration)
    }

    /// Runs it, for at most `timeout`. Throws when it cannot be started or
    /// the task is cancelled (its group killed either way).
    public func run(timeout: Duration) async throws -> Outcome {
        var options = PlatformOptions()
        options.processGroupID = 0
        let configuration = Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .custom(environment.map { Array("\($0.key)=\($0.value)".utf8) }), platformOptions: options)
        let group = ProcessGroup(children: children)
        let stdin = try Self.pipe(holding: input)
        let (outputLimit, errorLimit) = (self.outputLimit, self.errorLimit)
        let work: @Sendable () async throws -> Outcome = {
            let result = try await Subprocess.run(
                configuration, input: .fileDescriptor(stdin, closeAfterSpawningProcess: true), output: .bytes(limit: outputLimit),
                error: .bytes(limit: errorLimit)
            ) { execution in
                group.started(execution.processIdentifier.value)
            }
            group.ended()
            switch result.terminationStatus {
            case .exited(let status): return .exited(status: status, stdout: result.standardOutput, stderr: result.standardError)
            case .signaled(let signal): return .killed(signal: signal)
            }
        }
        let started = ContinuousClock.now
        let outcome: Outcome
        do {
            outcome = try await withTaskCancellationHandler {
                try await Deadline(limit: timeout).enforce(work)
            } onCancel: {
                group.kill()
            }
        } catch is TimeLimitReached {
            outcome = .timedOut(timeout)
        } catch {
            group.kill()
            group.ended()
            throw error
        }
        if case .exited = outcome { return outcome }
        // Killed at its time (the timeout's cancellation signals the leader alone), or by
        // anyone: whatever it started goes too.
        group.kill()
        group.ended()
        return ContinuousClock.now - started >= timeout ? .timedOut(timeout) : outcome
    }

    /// The read end of a pipe that already holds `bytes`, its write end closed.
    private static func pipe(holding bytes: [UInt8]) throws -> FileDescriptor {
        guard bytes.count <= 64 << 10 else { throw Errno.noBufferSpace }
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let writer = FileDescriptor(rawValue: ends[1])
        defer { try? writer.close() }
        _ = try writer.writeAll(bytes)
        return FileDescriptor(rawValue: ends[0])
    }

    /// The process group, once its leader has started.
    private final class ProcessGroup: Sendable {
        private let leader = Mutex<pid_t?>(nil)
        private let children: ChildProcesses?

        init(children: ChildProcesses?) {
            self.children = children
        }

        func started(_ pid: pid_t) {
            leader.withLock { $0 = pid }
            children?.insert(pid)
        }

        func ended() {
            if let pid = leader.withLock({ $0 }) { children?.remove(pid) }
        }

        /// Kills the leader and everything it started.
        func kill() {
            if let pid = leader.withLock({ $0 }) { _ = killpg(pid, SIGKILL) }
        }
    }
}
