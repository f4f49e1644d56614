import ArgumentParser
import Foundation
import ImagePull
import ImageReference
import Logging
import RegistryClient
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
    /// The secrets this run has seen, masked in everything it prints.
    var redactor = SecretRedactor()
    /// Standard error: notes above the live progress lines.
    var console = Console()
    var environment = ProcessInfo.processInfo.environment
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

/// Runs `body` with a registry client for `endpoint`, shutting it down after.
func withRegistryClient<Result: Sendable>(
    _ options: RegistryOptions, endpoint: RegistryEndpoint, context: CommandContext, _ body: (RegistryClient) async throws -> Result
) async throws -> Result {
    let resolver = try options.credentialResolver(redactor: context.redactor)
    let client = RegistryClient(
        endpoint: endpoint, credentials: resolver, configuration: options.clientConfiguration(context: context),
        logger: options.makeLogger(redactor: context.redactor))
    return try await client.use(body)
}

/// Runs `body` against the first source of `target` that answers `probe`
/// (its mirrors in order, then the registry), with the image as that
/// source names it; the client is shut down after.
func withImageSource<Result: Sendable>(
    _ options: RegistryOptions, target: ImageTarget, probe: SourceProbe = .manifest, context: CommandContext,
    _ body: (RegistryClient, ImageReference) async throws -> Result
) async throws -> Result {
    let chain = try options.sourceChains(context: context)(target.reference, target.endpoint, probe)
    return try await chain.run(probe: probe, body)
}

/// Writes bytes to `--out` (atomically, or through a stream) or to standard output.
func writeOutput(_ bytes: Data, out: String?, context: CommandContext) throws {
    try OutputWriting.write(bytes, to: out, temporaryPaths: context.temporaryPaths)
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
