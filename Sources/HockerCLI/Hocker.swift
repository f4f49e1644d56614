import ArgumentParser
import Dispatch
import Foundation
import ImageArchive
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
        // A `hocker` binary linked or copied under an old name behaves as that tool.
        let invokedAs = arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
        let effective = tool == .hocker ? (Tool(rawValue: invokedAs) ?? .hocker) : tool
        var argv = removingRTSOptions(Array(arguments.dropFirst()))
        if let subcommand = effective.subcommand { argv.insert(subcommand, at: 0) }

        let context = CommandContext()
        let signalSources = installSignalHandlers(context.temporaryPaths)
        defer { withExtendedLifetime(signalSources) {} }

        let command: any ParsableCommand
        do {
            command = try Hocker.parseAsRoot(argv)
        } catch {
            let code = Hocker.exitCode(for: error)
            if code == .success {
                print(Hocker.fullMessage(for: error))
                exit(0)
            }
            reportUsageError(Hocker.message(for: error), redactor: context.redactor, hint: "see '\(["hocker", argv.first].compactMap { $0 }.joined(separator: " ")) --help'")
            exit(2)
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

    /// Whether an error is one of ArgumentParser's (help, completion scripts,
    /// validation) rather than the command's own.
    private static func isArgumentParserError(_ error: any Error) -> Bool {
        switch error {
        case is ReferenceError, is CredentialError, is CommandError, is RegistryError, is ArchiveError, is CancellationError:
            false
        default:
            error is ValidationError || error is CleanExit || error is ExitCode
                || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
        }
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
    static func report(_ error: any Error, redactor: SecretRedactor) -> Int32 {
        switch error {
        case let error as ReferenceError:
            reportUsageError(error.description, redactor: redactor, hint: nil)
            return 2
        case let error as CredentialError:
            reportUsageError(error.description, redactor: redactor, hint: nil)
            return 2
        case CommandError.usage(let message):
            reportUsageError(message, redactor: redactor, hint: nil)
            return 2
        case let error as RegistryError:
            emit(["hocker: error: \(error.description)"] + error.hints.map { "  hint: \($0)" }, redactor: redactor)
            return 1
        case let error as ArchiveError:
            emit(["hocker: error: \(error.description)"], redactor: redactor)
            return 1
        case _ where isArgumentParserError(error):
            if Hocker.exitCode(for: error) == .success {
                print(Hocker.fullMessage(for: error))
                return 0
            }
            reportUsageError(Hocker.message(for: error), redactor: redactor, hint: nil)
            return 2
        case is CancellationError:
            emit(["hocker: error: cancelled"], redactor: redactor)
            return 1
        default:
            emit(["hocker: error: \(String(describing: error))"], redactor: redactor)
            return 1
        }
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
