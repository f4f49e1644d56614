import ArgumentParser
import Dispatch
import Foundation
import ImagePull
import ImageReference
import RegistryClient

/// The `hocker` command and its subcommands.
struct Hocker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hocker",
        abstract: "Fetch Docker/OCI image artifacts from a registry, without a daemon.",
        discussion: """
            Credentials are taken, in order, from --token, --username/--password or \
            --credentials-file; from DOCKER_TOKEN or DOCKER_USER/DOCKER_PASS; from auth files \
            (--authfile, REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json with \
            credential helpers); else the registry is asked anonymously.

            Each subcommand is also installed under its old name: hocker-manifest, \
            hocker-config, hocker-layer, hocker-image, docker2nix.
            """,
        version: HockerVersion.current,
        subcommands: [ManifestCommand.self, ConfigCommand.self, LayerCommand.self, ImageCommand.self, DockerToNixCommand.self, NixBuilderCommand.self])
}

/// Entry point shared by every executable.
public enum HockerMain {
    /// The executables and the subcommand each one is.
    public enum Tool: String, Sendable, CaseIterable {
        case hocker
        case manifest = "hocker-manifest"
        case config = "hocker-config"
        case layer = "hocker-layer"
        case image = "hocker-image"
        case docker2nix = "docker2nix"

        var subcommand: String? {
            switch self {
            case .hocker: nil
            case .manifest: "manifest"
            case .config: "config"
            case .layer: "layer"
            case .image: "image"
            case .docker2nix: "docker2nix"
            }
        }
    }

    /// Parses the process's arguments, runs the command and exits: 0 on
    /// success, 1 on failure, 2 on a usage error, 130/143 on SIGINT/SIGTERM.
    public static func run(tool: Tool, arguments: [String] = CommandLine.arguments) async -> Never {
        let argv = commandLine(tool: tool, arguments: arguments)
        let context = CommandContext()
        let signalSources = installSignalHandlers(context.temporaryPaths)
        defer { withExtendedLifetime(signalSources) {} }

        let command: any ParsableCommand
        do {
            command = try Hocker.parseAsRoot(argv)
        } catch {
            exit(report(error, redactor: context.redactor, usageHint: "see '\(["hocker", argv.first].compactMap { $0 }.joined(separator: " ")) --help'"))
        }
        do {
            if let runnable = command as? any HockerCommand {
                try await runnable.run(in: context)
            } else if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var plain = command
                try plain.run()
            }
            exit(0)
        } catch {
            exit(report(error, redactor: context.redactor))
        }
    }

    /// The arguments `Hocker` parses: argv without its first word and
    /// without any `+RTS ... -RTS` span, led by the subcommand the tool (or
    /// the name `hocker` was invoked under, when it is linked under an old
    /// name) stands for.
    static func commandLine(tool: Tool, arguments: [String]) -> [String] {
        let invokedAs = arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
        let effective = tool == .hocker ? (Tool(rawValue: invokedAs) ?? .hocker) : tool
        var argv = removingRTSOptions(Array(arguments.dropFirst()))
        if let subcommand = effective.subcommand { argv.insert(subcommand, at: 0) }
        return argv
    }

    /// Removes every `+RTS ... -RTS` span (GHC runtime options, which
    /// nixpkgs passes to the Haskell tools); an unclosed one runs to the end.
    static func removingRTSOptions(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var inside = false
        for argument in arguments {
            if argument == "+RTS" {
                inside = true
            } else if argument == "-RTS" && inside {
                inside = false
            } else if !inside {
                result.append(argument)
            }
        }
        return result
    }

    /// Prints an error and its hints; returns the exit status for it.
    /// `usageHint` is added under an error of the argument parser's own.
    static func report(_ error: any Error, redactor: SecretRedactor, usageHint: String? = nil) -> Int32 {
        if let error = error as? any UserFacingError {
            emit(["hocker: error: \(error.message)"] + error.hints.map { "  hint: \($0)" }, redactor: redactor)
            return error.exitStatus.rawValue
        }
        if error is CancellationError {
            emit(["hocker: error: cancelled"], redactor: redactor)
            return ExitStatus.failure.rawValue
        }
        // ArgumentParser's own: help, completion scripts, validation.
        if Hocker.exitCode(for: error) == .success {
            print(Hocker.fullMessage(for: error))
            return 0
        }
        if error is ValidationError || error is CleanExit || error is ExitCode || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            reportUsageError(Hocker.message(for: error), redactor: redactor, hint: usageHint)
            return ExitStatus.usage.rawValue
        }
        emit(["hocker: error: \(String(describing: error))"], redactor: redactor)
        return ExitStatus.failure.rawValue
    }

    private static func reportUsageError(_ message: String, redactor: SecretRedactor, hint: String?) {
        emit(["hocker: error: \(message)"] + (hint.map { ["  hint: \($0)"] } ?? []), redactor: redactor)
    }

    /// Writes lines to stderr, any known secret masked (messages never hold
    /// one by design; text quoted from a server or a library might).
    private static func emit(_ lines: [String], redactor: SecretRedactor) {
        let text = redactor.redact(lines.joined(separator: "\n"))
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// On SIGINT or SIGTERM: remove temporary outputs, exit 128 + signal.
    private static func installSignalHandlers(_ paths: TemporaryPaths) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                paths.removeAll()
                _exit(128 + number)
            }
            source.resume()
            return source
        }
    }
}
