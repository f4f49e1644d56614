import ArgumentParser
import Foundation
import ImageReference
import Logging
import RegistryClient
import SystemPackage

/// A failure of the command itself rather than of the registry.
enum CommandError: Error, CustomStringConvertible {
    /// The user's arguments do not make sense (exit status 2).
    case usage(String)
    /// An output file or directory cannot be written.
    case output(path: String, detail: String)

    var description: String {
        switch self {
        case .usage(let message): message
        case .output(let path, let detail): "cannot write \(path): \(detail)"
        }
    }
}

/// What a command needs from the process that runs it.
struct CommandContext: Sendable {
    /// Temporary outputs to remove if the process is interrupted.
    var temporaryPaths = TemporaryPaths()
    /// The secrets this run has seen, masked in everything it prints.
    var redactor = SecretRedactor()
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

/// Runs `body` with a registry client for `target`, shutting it down after.
func withRegistryClient<Result: Sendable>(
    _ options: RegistryOptions, endpoint: RegistryEndpoint, context: CommandContext, _ body: (RegistryClient) async throws -> Result
) async throws -> Result {
    let resolver = try options.credentialResolver(redactor: context.redactor)
    let client = RegistryClient(
        endpoint: endpoint, credentials: resolver, configuration: options.clientConfiguration(redactor: context.redactor),
        logger: options.makeLogger(redactor: context.redactor))
    do {
        let result = try await body(client)
        try? await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Fetches one blob to `--out` (atomically) or to standard output (after
/// it is verified, through a temporary file, so no unverified byte is printed).
func fetchBlobToOutput(
    _ client: RegistryClient, repository: String, digest: Digest, size: Int64?, out: String?, cache: BlobCache?, context: CommandContext
) async throws {
    guard let out else {
        try await withVerifiedBlob(client, repository: repository, digest: digest, size: size, cache: cache, context: context) { file in
            try StandardOutput.copy(from: file.descriptor)
        }
        return
    }
    let file = try OutputFile(target: out, registry: context.temporaryPaths)
    do {
        _ = try await client.fetchBlob(repository: repository, digest: digest, size: size, into: file.descriptor, cache: cache)
    } catch {
        file.discard()
        throw error
    }
    try file.commit()
}

/// Fetches one blob into a temporary file in TMPDIR and hands it to `body`
/// once verified. The file is removed afterwards, and on SIGINT/SIGTERM.
func withVerifiedBlob<Result>(
    _ client: RegistryClient, repository: String, digest: Digest, size: Int64?, cache: BlobCache?, context: CommandContext,
    _ body: (OutputFile) throws -> Result
) async throws -> Result {
    let file = try OutputFile(target: FileManager.default.temporaryDirectory.path + "/hocker-blob-\(digest.short)", registry: context.temporaryPaths)
    defer { file.discard() }
    _ = try await client.fetchBlob(repository: repository, digest: digest, size: size, into: file.descriptor, cache: cache)
    return try body(file)
}

/// Writes bytes to `--out` (atomically) or to standard output.
func writeOutput(_ bytes: Data, out: String?, context: CommandContext) throws {
    guard let out else {
        try StandardOutput.write(bytes)
        return
    }
    let file = try OutputFile(target: out, registry: context.temporaryPaths)
    do {
        _ = try bytes.withUnsafeBytes { try file.descriptor.writeAll(toAbsoluteOffset: 0, $0) }
    } catch {
        file.discard()
        throw CommandError.output(path: out, detail: "\(error)")
    }
    try file.commit()
}
