import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of a finished child process.
public struct ProcessResult: Sendable {
    /// The exit status (or, when killed by a signal, the signal number).
    public var status: Int32
    /// Everything the process wrote to standard output.
    public var stdout: Data
    /// Everything the process wrote to standard error.
    public var stderr: Data
    /// From starting the process to its exit, as the thread told of the
    /// exit saw it: not when a waiting task next ran, which a busy suite
    /// delays by seconds. Nil when not measured.
    public var duration: Duration?

    public init(status: Int32, stdout: Data, stderr: Data, duration: Duration? = nil) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
    }

    /// Standard output decoded as UTF-8.
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// Standard error decoded as UTF-8.
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    /// `true` when the process exited with status 0.
    public var succeeded: Bool { status == 0 }
}

/// Runs `executable` with `args` and collects its output.
///
/// - Parameters:
///   - executable: an absolute path, or a bare name looked up with ``TestTools/path(_:)``.
///   - args: the arguments (without the program name).
///   - environment: variables added to (and overriding) the current environment;
///     with `inheritEnvironment: false` they are the whole environment.
///   - stdin: bytes fed to standard input, which is then closed; `nil` connects `/dev/null`.
///   - timeout: after this the process gets SIGTERM, then SIGKILL 3 s later, and
///     ``TestBedError/processTimedOut(command:timeout:stderrTail:)`` is thrown.
///   - currentDirectory: the working directory, or the current one when `nil`.
///   - inheritEnvironment: whether the current environment is passed on.
/// - Returns: the status and both outputs; a non-zero status is *not* an error here
///   (use ``runChecked(_:_:environment:stdin:timeout:currentDirectory:)`` for that).
///
/// Standard output and error are drained concurrently on dedicated threads, so
/// large outputs cannot deadlock the child. Cancelling the calling task kills the child.
public func runProcess(
    _ executable: String,
    _ args: [String],
    environment: [String: String]? = nil,
    stdin: Data? = nil,
    timeout: Duration = .seconds(120),
    currentDirectory: String? = nil,
    inheritEnvironment: Bool = true
) async throws -> ProcessResult {
    let commandLine = ([executable] + args).map(shellQuote).joined(separator: " ")
    guard let executablePath = TestTools.path(executable) else {
        throw TestBedError.toolNotFound(name: executable)
    }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: executablePath)
    process.arguments = args
    if let currentDirectory {
        process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory)
    }
    var childEnvironment = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
    for (key, value) in environment ?? [:] { childEnvironment[key] = value }
    process.environment = childEnvironment

    let stdoutPipe = Pipe()
    let stderrPipe = Pipe()
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
    let stdinPipe: Pipe? = stdin == nil ? nil : Pipe()
    if let stdinPipe {
        process.standardInput = stdinPipe
    } else {
        process.standardInput = FileHandle.nullDevice
    }

    let (exitStream, exitContinuation) = AsyncStream<Int32>.makeStream()
    let started = ContinuousClock.now
    let lifetime = NIOLockedValueBox<Duration?>(nil)
    process.terminationHandler = { finished in
        lifetime.withLockedValue { $0 = ContinuousClock.now - started }
        exitContinuation.yield(finished.terminationStatus)
        exitContinuation.finish()
    }

    do {
        try process.run()
    } catch {
        throw TestBedError.launchFailed(command: commandLine, reason: "\(error)")
    }
    // Foundation closes the parent's copies of the child's pipe ends in run().

    let pid = process.processIdentifier
    let stdoutReader = readToEndOnThread(stdoutPipe.fileHandleForReading)
    let stderrReader = readToEndOnThread(stderrPipe.fileHandleForReading)
    if let stdinPipe, let stdin {
        // A child that exits without reading all input must not kill us with SIGPIPE.
        _ = signal(SIGPIPE, SIG_IGN)
        writeOnThread(stdin, to: stdinPipe.fileHandleForWriting)
    }

    let timedOut = LockedFlag()
    let watchdog = Task {
        do {
            try await Task.sleep(for: timeout)
        } catch {
            return  // finished in time (or cancelled)
        }
        timedOut.set()
        await terminate(pid: pid)
    }

    let status: Int32 = await withTaskCancellationHandler {
        var code: Int32 = -1
        for await value in exitStream { code = value }
        return code
    } onCancel: {
        _ = kill(pid, SIGKILL)
    }
    watchdog.cancel()

    let stdoutData = await stdoutReader.value
    let stderrData = await stderrReader.value
    if timedOut.isSet {
        throw TestBedError.processTimedOut(command: commandLine, timeout: timeout, stderrTail: textTail(stderrData))
    }
    try Task.checkCancellation()
    return ProcessResult(status: status, stdout: stdoutData, stderr: stderrData, duration: lifetime.withLockedValue { $0 })
}

/// Like ``runProcess(_:_:environment:stdin:timeout:currentDirectory:inheritEnvironment:)``,
/// but a non-zero exit status throws ``TestBedError/processFailed(command:status:stderrTail:)``.
@discardableResult
public func runChecked(
    _ executable: String,
    _ args: [String],
    environment: [String: String]? = nil,
    stdin: Data? = nil,
    timeout: Duration = .seconds(120),
    currentDirectory: String? = nil
) async throws -> ProcessResult {
    let result = try await runProcess(
        executable, args, environment: environment, stdin: stdin, timeout: timeout,
        currentDirectory: currentDirectory)
    guard result.succeeded else {
        let commandLine = ([executable] + args).map(shellQuote).joined(separator: " ")
        let detail = result.stderr.isEmpty ? result.stdout : result.stderr
        throw TestBedError.processFailed(command: commandLine, status: result.status, stderrTail: textTail(detail))
    }
    return result
}

/// Sends SIGTERM to `pid`, waits up to `grace` for it to go away, then sends SIGKILL.
func terminate(pid: Int32, grace: Duration = .seconds(3)) async {
    guard pid > 0 else { return }
    _ = kill(pid, SIGTERM)
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: grace)
    while clock.now < deadline {
        if kill(pid, 0) != 0 { return }
        try? await Task.sleep(for: .milliseconds(50))
    }
    _ = kill(pid, SIGKILL)
}

/// Quotes `word` for display in a shell-like command line.
func shellQuote(_ word: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%")
    if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Reads `handle` to end-of-file on a dedicated thread (blocking reads must not
/// occupy the cooperative pool) and delivers the bytes as a task value.
private func readToEndOnThread(_ handle: FileHandle) -> Task<Data, Never> {
    Task {
        await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            let thread = Thread {
                let data = (try? handle.readToEnd()) ?? Data()
                try? handle.close()
                continuation.resume(returning: data)
            }
            thread.start()
        }
    }
}

/// Writes `data` to `handle` on a dedicated thread, then closes it.
private func writeOnThread(_ data: Data, to handle: FileHandle) {
    let thread = Thread {
        try? handle.write(contentsOf: data)
        try? handle.close()
    }
    thread.start()
}

/// A thread-safe boolean that can only go from `false` to `true`.
final class LockedFlag: Sendable {
    private let box = NIOLockedValueBox(false)
    func set() { box.withLockedValue { $0 = true } }
    var isSet: Bool { box.withLockedValue { $0 } }
}
