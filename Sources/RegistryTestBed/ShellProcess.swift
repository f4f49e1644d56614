import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process started as a shell starts one: no signal blocked, every
/// signal's handler at its default, stdin from /dev/null, stdout and stderr
/// into files. `Foundation.Process` starts children with signals blocked,
/// which hides exactly what a user at a shell sees when they press Ctrl-C
/// or `kill` a job; tests of signals start hocker this way instead.
public final class ShellProcess: @unchecked Sendable {
    /// The process id.
    public let pid: pid_t
    /// Where standard output and standard error go.
    public let stdoutPath: String
    public let stderrPath: String
    /// How and when the process ended, set by the thread that reaps it.
    private final class Ending: @unchecked Sendable {
        /// Guards `exit`; signalled when it is set.
        let condition = NSCondition()
        var exit: (status: Int32, at: ContinuousClock.Instant)?
    }
    private let ending = Ending()

    /// Starts `executable` with `arguments` and `environment` (the whole
    /// environment), in the current directory (wrap it in `bash -c 'cd …;
    /// exec …'` for another), its output in files under `directory`.
    ///
    /// - Parameter stdinPath: read as standard input; `/dev/null` by default.
    public init(_ executable: String, _ arguments: [String], environment: [String: String], directory: String, stdinPath: String = "/dev/null") throws {
        stdoutPath = directory + "/stdout-\(UUID().uuidString.prefix(8))"
        stderrPath = directory + "/stderr-\(UUID().uuidString.prefix(8))"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else this process has open: a file another test is writing,
        // held open by this child, could not be executed (ETXTBSY) while it runs.
        // (glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not declare.)
        if let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // Its own process group, as a shell with job control gives a job, so a signal to the group reaches only it.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestBedError.launchFailed(command: executable, reason: String(cString: strerror(result)))
        }
        pid = child
        let spawned = child
        // A thread of its own blocks in waitpid, so the moment of exit is the
        // kernel's, not whenever a busy test's task next polls.
        let thread = Thread { [ending] in
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) == -1, errno == EINTR {}
            let signal = status & 0x7f
            let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            ending.condition.lock()
            ending.exit = (code, ContinuousClock.now)
            ending.condition.broadcast()
            ending.condition.unlock()
        }
        thread.start()
    }

    /// Sends `signal` to the process.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits at most `timeout` for the process to end; its exit status
    /// (128 + the signal when a signal ended it), or nil while it still runs.
    public func wait(timeout: Duration) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let status = poll()?.status { return status }
            if clock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// When the process ended, as the thread reaping it saw: nil while it runs.
    public var endedAt: ContinuousClock.Instant? { poll()?.at }

    private func poll() -> (status: Int32, at: ContinuousClock.Instant)? {
        ending.condition.lock()
        defer { ending.condition.unlock() }
        return ending.exit
    }

    /// What it wrote to standard output and standard error so far.
    public var stdout: Data { FileManager.default.contents(atPath: stdoutPath) ?? Data() }
    public var stderrText: String { String(decoding: FileManager.default.contents(atPath: stderrPath) ?? Data(), as: UTF8.self) }

    /// Kills it if it still runs.
    public func stop() {
        ending.condition.lock()
        defer { ending.condition.unlock() }
        if ending.exit == nil { kill(pid, SIGKILL) }
        while ending.exit == nil { ending.condition.wait() }
    }

    deinit { stop() }
}
