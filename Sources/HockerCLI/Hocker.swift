import ArgumentParser
import Dispatch
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

            Pulls may go through mirrors and pull-through caches first: --mirror (or \
            HOCKER_MIRROR), then the [[registry.mirror]] tables of registries.conf \
            (--registries-conf, CONTAINERS_REGISTRIES_CONF, ~/.config/containers or \
            /etc/containers); the registry is tried last, and a mirror on another host \
            never gets the credentials above, only an auth file's entry for its own host.

            Each subcommand is also installed under its old name: hocker-manifest, \
            hocker-config, hocker-layer, hocker-image, docker2nix.
            """,
        version: HockerVersion.current,
        subcommands: [
            ManifestCommand.self, ConfigCommand.self, LayerCommand.self, ImageCommand.self, DockerToNixCommand.self, NixBuilderCommand.self,
            LockCommand.self, TagsCommand.self, InspectCommand.self, DigestCommand.self, LoadCommand.self, ReferrersCommand.self,
            VerifyCommand.self,
        ])
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

    /// The process's main: parses the arguments, runs the command and
    /// exits: 0 on success, 1 on failure, 2 on a usage error, 130/143 on
    /// SIGINT/SIGTERM. Never returns.
    ///
    /// The signal handlers are installed here, on the main thread, before
    /// any other thread exists, so that every thread inherits the unblocked
    /// mask. The command then runs on the concurrency pool while the main
    /// thread waits for it. The main thread is never ended: `dispatchMain()`,
    /// which an `async` main runs, ends it with `pthread_exit`, and that
    /// unwinding makes a static executable (scripts/build-static, the Nix
    /// builders) sort every unwind table of its 140 MB first — about 40 ms
    /// of CPU at every start, measured with `perf`.
    public static func main(tool: Tool, arguments: [String] = CommandLine.arguments) -> Never {
        let context = CommandContext()
        let paths = context.temporaryPaths
        let children = context.children
        let shield = context.interruptShield
        Interrupts.install(
            cleanup: {
                // An image's names being set are set whole first; a daemon that stopped answering is not waited for long.
                shield.holdOff(upTo: .seconds(10))
                children.killAll()
                paths.removeAll()
            }, resize: { TerminalSize.changed() })
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            await run(tool: tool, arguments: arguments, context: context)
        }
        // `run` exits the process; nothing signals this.
        finished.wait()
        exit(1)
    }

    /// Parses `arguments`, runs the command and exits (see ``main(tool:arguments:)``).
    static func run(tool: Tool, arguments: [String], context: CommandContext) async -> Never {
        let status = await status(tool: tool, arguments: arguments, context: context, finished: { context.children.killAll() })
        // A signal came as the run ended (an image's names set whole first): the run was interrupted, and ends
        // as such, from the signal's thread, once its cleanup is done.
        while Interrupts.isEnding {
            try? await Task.sleep(for: .seconds(1))
        }
        exit(status)
    }

    /// Parses `arguments` and runs the command; the exit status. `finished`
    /// runs before it returns: a credential helper the run gave up waiting
    /// for does not outlive it.
    static func status(tool: Tool, arguments: [String], context: CommandContext, finished: () -> Void) async -> Int32 {
        defer { finished() }
        let argv = commandLine(tool: tool, arguments: arguments)

        // Under every name, the script covers hocker and the old names alike.
        if let name = Completions.requestedShell(in: argv), let shell = CompletionShell(rawValue: name) {
            print(Completions.script(for: shell), terminator: "")
            return 0
        }
        let command: any ParsableCommand
        do {
            command = try Hocker.parseAsRoot(argv)
        } catch {
            var hint = "see '\(["hocker", argv.first].compactMap { $0 }.joined(separator: " ")) --help'"
            if let word = argv.first, !word.hasPrefix("-"), !subcommandNames.contains(word), let meant = suggestion(for: word) {
                hint = "did you mean 'hocker \(meant)'? (see 'hocker --help')"
            }
            return report(error, redactor: context.redactor, usageHint: hint)
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
            return 0
        } catch {
            return report(error, redactor: context.redactor)
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
        if let subcommand = effective.subcommand {
            argv.insert(subcommand, at: 0)
        } else {
            argv = subcommandFirst(argv)
        }
        return argv
    }

    /// The subcommands `hocker` has, by name.
    static var subcommandNames: [String] {
        Hocker.configuration.subcommands.map { $0._commandName }
    }

    /// `hocker -q image x` as `hocker image -q x`: options written before the
    /// subcommand are the subcommand's (they all share them).
    static func subcommandFirst(_ argv: [String]) -> [String] {
        let rootOnly: Set = ["-h", "--help", "help", "--version", "--generate-completion-script"]
        guard let first = argv.first, first.hasPrefix("-"), !rootOnly.contains(first),
              let index = argv.firstIndex(where: { subcommandNames.contains($0) })
        else { return argv }
        var reordered = argv
        let subcommand = reordered.remove(at: index)
        // `hocker -q lock update`: the group's own subcommand comes along.
        let nested = Hocker.configuration.subcommands.first { $0._commandName == subcommand }?.configuration.subcommands.map { $0._commandName } ?? []
        if index < reordered.count, nested.contains(reordered[index]) {
            return [subcommand, reordered.remove(at: index)] + reordered
        }
        return [subcommand] + reordered
    }

    /// The subcommand `word` was likely meant to be, for a typo.
    static func suggestion(for word: String) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var current = [i + 1]
                for (j, y) in b.enumerated() {
                    current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
                }
                previous = current
            }
            return previous[b.count]
        }
        let scored = subcommandNames.filter { $0 != "nix-builder" }.map { ($0, distance(Array(word.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, best.0.count / 3) else { return nil }
        return best.0
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

    /// `hocker: error: MESSAGE`, then `  hint: …` lines: how every error is printed.
    static func errorLines(_ message: String, hints: [String]) -> [String] {
        ["hocker: error: \(message)"] + hints.map { "  hint: \($0)" }
    }

    /// Prints an error and its hints; returns the exit status for it.
    /// `usageHint` is added under an error of the argument parser's own.
    static func report(_ error: any Error, redactor: SecretRedactor, usageHint: String? = nil) -> Int32 {
        // The process exits with 128 + the signal in a moment; the interruption says it all.
        if Interrupts.isEnding { return ExitStatus.failure.rawValue }
        if let error = error as? any UserFacingError {
            guard error.exitStatus != .readerGone else { return error.exitStatus.rawValue }
            emit(errorLines(error.message, hints: error.hints), redactor: redactor)
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
        emit(errorLines(message, hints: hint.map { [$0] } ?? []), redactor: redactor)
    }

    /// Writes lines to stderr, any known secret masked (messages never hold
    /// one by design; text quoted from a server or a library might).
    /// Registry text in them is escaped for the terminal (``TerminalText``).
    private static func emit(_ lines: [String], redactor: SecretRedactor) {
        let text = TerminalText.message(redactor.redact(lines.joined(separator: "\n")))
        Console.emit(text + "\n")
    }

}
