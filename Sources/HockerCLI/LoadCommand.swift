import ArgumentParser
import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImagePull
import ImageReference
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `hocker load`: images into a docker or podman daemon, sending only what it lacks.
struct LoadCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load images into a docker or podman daemon, sending only what it lacks.",
        discussion: """
            What to load: image references (pulled from their registry, for --platform), entries of a lock \
            file (--lock-file FILE, then entry names; all when none), archives (-i FILE, '-' for standard input, \
            the default when nothing else is named), or what nix/ built: an archive, a streamed image (its \
            script) or a fetchdocker directory.

            An image the daemon already has (the same image ID: the digest of its config) is only given the \
            names it lacks, and none of its layers is sent. The ID is known before any layer is read: from an \
            archive's manifest.json and config, from a reference's manifest, from the lock file itself (no \
            registry request at all), or from what a nix/ build recorded. Otherwise the archive is streamed to \
            the daemon, which unpacks it as it arrives: from the download for a reference or a lock entry (no \
            archive file: the blobs in flight only, in TMPDIR), from the Nix store for a streamed image. The names loaded, tagged or found \
            already there are printed on stdout.

            The daemon: --host; else DOCKER_HOST; else CONTAINER_HOST; else the first socket that \
            exists of /var/run/docker.sock (docker), /run/podman/podman.sock (podman as root) and \
            $XDG_RUNTIME_DIR/podman/podman.sock (rootless podman). Only unix sockets are spoken: \
            podman's through its Docker-compatible API (podman system service).

            Standard input is read only until its manifest.json and configs have gone by (hocker's archives \
            put them first; docker save's come last, so those are read whole into a temporary file first). \
            When the daemon has every image, the rest is read and thrown away, so the command writing the \
            pipe finishes as it would have (a pipeline under set -o pipefail succeeds); a reference \
            (hocker load IMAGE) does not download the layers at all.

            An image named by reference must satisfy the signature policy (--policy, as hocker image) before \
            the daemon is asked about it; a lock entry is loaded by its digest, which is its pin.

            Interrupted (Ctrl-C) while it sets an image's names, it sets the rest of them before it exits, \
            so an image never has some of its names and not others; an archive cut short is dropped by the \
            daemon. --max-time bounds the whole run.

            Examples:
              hocker load debian:bookworm
              hocker load --lock-file hocker.lock.json
              hocker load --lock-file hocker.lock.json app db
              hocker load -i debian.tar
              hocker load -i $(nix-build -A app)
              hocker image debian:bookworm --out - | hocker load
              hocker load --host unix://$XDG_RUNTIME_DIR/podman/podman.sock -i app.tar
            """)

    @Argument(help: ArgumentHelp("Images to pull into the daemon; with --lock-file, the entries to load (default: all).", valueName: "IMAGE|NAME"))
    var references: [String] = []

    @Option(
        name: [.customShort("i"), .customLong("input")],
        help: ArgumentHelp(
            "A docker-archive, or what nix/ built (a streamed image's script, a fetchdocker directory), to load ('-': standard input). Repeatable.",
            valueName: "FILE"))
    var inputs: [String] = []

    @Option(name: .customLong("lock-file"), help: ArgumentHelp("Load the entries of this lock file (those named, else all).", valueName: "PATH"))
    var lockFile: String?

    @Option(
        name: [.customShort("H"), .long],
        help: ArgumentHelp("The daemon's socket (default: DOCKER_HOST, CONTAINER_HOST, then the standard sockets).", valueName: "unix:///PATH"))
    var host: String?

    @Flag(help: "Send every archive, even when the daemon has its images.")
    var force = false

    @Option(help: ArgumentHelp("Images loaded at once (default 2).", valueName: "N"))
    var jobs = 2

    @OptionGroup var display: ProgressOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var trust: TrustOptions

    func validate() throws {
        guard (1...16).contains(jobs) else { throw ValidationError("--jobs takes a number from 1 to 16") }
        if inputs.filter({ $0 == "-" }).count > 1 { throw LoadError.standardInputTwice }
        _ = try registry.singlePlatform(command: "load")
        if registry.passwordStdin, readsStandardInput {
            throw ValidationError("--password-stdin and an archive on standard input both read it: give the archive with -i FILE")
        }
    }

    /// Whether an archive comes on standard input: `-i -`, or nothing else named.
    private var readsStandardInput: Bool {
        inputs.contains("-") || (inputs.isEmpty && references.isEmpty && lockFile == nil)
    }

    func run(in context: CommandContext) async throws {
        if readsStandardInput, isatty(STDIN_FILENO) == 1 {
            throw UsageError(
                "nothing to load: standard input is a terminal",
                hints: ["name an image (hocker load debian:bookworm), a lock file (--lock-file FILE) or an archive (-i FILE), or pipe one in"])
        }
        let requests = try loadRequests()
        let endpoint = try DaemonEndpoint.resolve(host: host, environment: context.environment) { access($0, F_OK) == 0 }
        let display = LoadDisplay(mode: display.progress, quiet: registry.quiet, console: context.console)
        let settings = LoadSettings(
            daemon: endpoint, force: force, jobs: jobs, spoolDirectory: context.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp",
            observer: display, shield: context.interruptShield)
        // Archives alone ask no registry: the flags' files (credentials, registries.conf) are not read for them.
        // The signature policy is read for references alone: a lock entry's digest is its pin.
        let pullsReferences = requests.contains { if case .image = $0 { true } else { false } }
        let options = requests.contains(where: \.mayUseRegistry)
            ? try registry.connection.sessionOptions(context: context, trust: pullsReferences ? trust : nil)
            : SessionOptions(maxTime: registry.connection.maxTime.map { .seconds($0) }, temporaryPaths: context.temporaryPaths)
        let reports = try await PullSession.run(options) { session in
            try await session.load(requests, settings: settings)
        }
        display.summarize(reports)
        let lines = LoadOutput.lines(reports)
        if !lines.isEmpty { try writeOutput(Data((lines.joined(separator: "\n") + "\n").utf8), out: nil, context: context) }
        try Self.finish(reports, context: context)
    }

    /// What the arguments name, in their order: archives and nix/ outputs,
    /// then the lock's entries or the references.
    private func loadRequests() throws -> [LoadRequest] {
        var requests: [LoadRequest] = []
        for path in inputs {
            if path != "-", let streamed = try NixStreamScript.image(at: path) {
                requests.append(.assembled(streamed.image, name: path))
            } else {
                requests.append(.archive(path: path))
            }
        }
        let platform = try registry.singlePlatform(command: "load")
        if let lockFile {
            requests.append(.lockEntries(path: lockFile, names: references, platform: platform))
        } else {
            for reference in references {
                let target = try ImageTarget(name: reference, tag: nil, registry: registry.registry, insecure: registry.insecure)
                requests.append(.image(target, given: reference, platform: platform))
            }
        }
        return requests.isEmpty ? [.archive(path: "-")] : requests
    }

    /// Ends the run: a single failed source fails with its own error; of
    /// several, each failure was printed as it came, and this names them.
    private static func finish(_ reports: [LoadReport], context: CommandContext) throws {
        let failures = reports.compactMap { report -> (String, any Error)? in
            if case .failure(let error) = report.result { return (report.source, error) }
            return nil
        }
        guard !failures.isEmpty else { return }
        if reports.count == 1 { throw failures[0].1 }
        for (source, error) in failures {
            let hints = (error as? any UserFacingError)?.hints ?? []
            let lines = HockerMain.errorLines("\(source): \(error.userFacingMessage)", hints: hints)
            context.console.note(context.redactor.redact(lines.joined(separator: "\n")))
        }
        throw LoadRunError(failed: failures.map(\.0), total: reports.count)
    }
}

/// Some of several sources did not load; each was reported as it failed.
struct LoadRunError: UserFacingError {
    var failed: [String]
    var total: Int

    var message: String {
        "\(failed.count) of \(total) images did not load (\(failed.joined(separator: ", ")))"
    }
}
