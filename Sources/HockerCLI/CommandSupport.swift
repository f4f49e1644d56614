import ArgumentParser
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
import ImagePull
import ImageReference
import Logging
import RegistryClient
import Synchronization
import SystemPackage

/// The user's arguments do not make sense (exit status 2).
struct UsageError: UserFacingError {
    var message: String
    var hints: [String] = []
    var exitStatus: ExitStatus { .usage }

    init(_ message: String, hints: [String] = []) {
        self.message = message
        self.hints = hints
    }
}

/// What a command needs from the process that runs it.
struct CommandContext: Sendable {
    /// Temporary outputs to remove if the process is interrupted.
    var temporaryPaths = TemporaryPaths()
    /// Credential helpers still running, killed if the process is interrupted.
    var children = ChildProcesses()
    /// Steps an interrupt lets finish first: the names of an image being set.
    var interruptShield = InterruptShield()
    /// Standard input, read at most once.
    var standardInput = StandardInput()
    /// The secrets this run has seen, masked in everything it prints.
    var redactor = SecretRedactor()
    /// Standard error: notes above the live progress lines.
    var console = Console()
    var environment = ProcessInfo.processInfo.environment
    /// Whether standard output is a terminal: where a blob is not written
    /// unasked, and progress is not drawn over the data.
    var standardOutputIsTerminal = isatty(STDOUT_FILENO) == 1
}

/// A command that runs with a context; `run()` makes a fresh one.
protocol HockerCommand: AsyncParsableCommand {
    func run(in context: CommandContext) async throws
}

extension HockerCommand {
    func run() async throws {
        try await run(in: CommandContext())
    }
}

/// Writes bytes to `--out` (atomically, or through a stream) or to standard output.
func writeOutput(_ bytes: Data, out: String?, context: CommandContext) throws {
    try OutputWriting.write(bytes, to: out, temporaryPaths: context.temporaryPaths)
}

/// Lines on standard output, each one line whatever a registry put in it
/// (``TerminalText/field(_:)``).
func printLines(_ lines: [String], context: CommandContext) throws {
    guard !lines.isEmpty else { return }
    try writeOutput(Data((lines.map(TerminalText.field).joined(separator: "\n") + "\n").utf8), out: nil, context: context)
}

/// What `--out` does, said once for every command that takes it.
enum OutputHelp {
    static func text(_ what: String) -> String {
        """
        Write the \(what) to PATH ('-' or none: stdout). A file is written beside PATH and renamed onto it once \
        verified (through a symlink, onto its target); a FIFO or device is written through, and may get part of the \
        \(what) if the command fails.
        """
    }
}

/// Standard input as a run reads it: at most once, whoever asks first, so
/// that a password read for one part of the run is not looked for again
/// (and found empty) by another.
final class StandardInput: Sendable {
    private let text = Mutex<String??>(nil)

    init() {}

    /// Standard input up to its end or first newline (a trailing CR too), as
    /// `docker login --password-stdin` reads it; nil when it is not UTF-8.
    func password() -> String? {
        text.withLock { cached in
            if let cached { return cached }
            let read = Self.readLine()
            cached = .some(read)
            return read
        }
    }

    private static func readLine() -> String? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = (try? buffer.withUnsafeMutableBytes { try FileDescriptor.standardInput.read(into: $0) }) ?? 0
            if count <= 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { break }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var line = Substring(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        while line.hasSuffix("\r") { line = line.dropLast() }
        return String(line)
    }
}
