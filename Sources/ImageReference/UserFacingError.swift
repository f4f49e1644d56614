/// An error a person reads: one line saying what went wrong and what it is
/// about (the image, registry, file or flag), hint lines saying what to do,
/// and the exit status it ends the process with.
///
/// Every module's error type adopts it, so the command line prints any of
/// them the same way without knowing its type. A message never quotes a
/// secret.
public protocol UserFacingError: Error, Sendable, CustomStringConvertible {
    /// The error in one line, without the `hocker: error:` prefix.
    var message: String { get }
    /// Lines that say what to try next; may be empty.
    var hints: [String] { get }
    /// Whether the user's input is at fault (exit status 2) or the run failed (1).
    var exitStatus: ExitStatus { get }
    /// Whether it says that the run's time limit was reached, and where:
    /// kept over a bare "time limit reached" when the deadline ends the run.
    var reportsTimeLimit: Bool { get }
}

/// How a failed run ends.
public enum ExitStatus: Int32, Sendable {
    /// The run failed: a registry, a file, the network (exit status 1).
    case failure = 1
    /// The arguments or an input file the user gave are wrong (exit status 2).
    case usage = 2
    /// Standard output's reader went away (`| head`): 128 + SIGPIPE, and
    /// nothing printed, as a command killed by SIGPIPE ends.
    case readerGone = 141
}

extension Error {
    /// What `hocker: error:` prints for this error: a user-facing error's
    /// message, else the error as Swift describes it.
    public var userFacingMessage: String {
        (self as? any UserFacingError)?.message ?? "\(self)"
    }
}

extension UserFacingError {
    public var hints: [String] { [] }
    public var exitStatus: ExitStatus { .failure }
    public var reportsTimeLimit: Bool { false }
    public var description: String { message }
}
