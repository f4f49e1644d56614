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

/// `hocker load`: image archives into a docker or podman daemon, sending only what it lacks.
struct LoadCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load image archives into a docker or podman daemon, sending only what it lacks.",
        discussion: """
            Each archive's manifest.json says which images it holds; an image the daemon already has \
            (the same image ID: the digest of its config) is only given the names it lacks, and none of \
            its layers is sent. Otherwise the archive is streamed to the daemon, which unpacks it as it \
            arrives. The names loaded, tagged or found already there are printed on stdout.

            The daemon: --host; else DOCKER_HOST; else CONTAINER_HOST; else the first socket that \
            exists of /var/run/docker.sock (docker), /run/podman/podman.sock (podman as root) and \
            $XDG_RUNTIME_DIR/podman/podman.sock (rootless podman). Only unix sockets are spoken: \
            podman's through its Docker-compatible API (podman system service).

            Standard input ('-', or no -i) is read only until its manifest.json and configs have gone \
            by (hocker's archives put them first; docker save's come last, so those are read whole into \
            a temporary file first). When the daemon has every image the rest is not read, and the \
            writer of the pipe sees it closed.

            Examples:
              hocker load -i debian.tar
              hocker image debian:bookworm --out - | hocker load
              hocker load -i a.tar -i b.tar -i c.tar --jobs 3
              hocker load --host unix://$XDG_RUNTIME_DIR/podman/podman.sock -i app.tar
            """)

    @Option(
        name: [.customShort("i"), .customLong("input")],
        help: ArgumentHelp("A docker-archive to load ('-': standard input, the default). Repeatable.", valueName: "FILE"))
    var inputs: [String] = []

    @Option(
        name: [.customShort("H"), .long],
        help: ArgumentHelp("The daemon's socket (default: DOCKER_HOST, CONTAINER_HOST, then the standard sockets).", valueName: "unix:///PATH"))
    var host: String?

    @Flag(help: "Send every archive, even when the daemon has its images.")
    var force = false

    @Option(help: ArgumentHelp("Archives loaded at once.", valueName: "N"))
    var jobs = 2

    @Option(
        name: .customLong("max-time"), parsing: .unconditional,
        help: ArgumentHelp("Seconds the whole run may take (default: no limit).", valueName: "SECONDS"))
    var maxTime: Int?

    @Flag(name: [.short, .long], help: "Print nothing but the names loaded and errors.")
    var quiet = false

    @OptionGroup var display: ProgressOptions

    func validate() throws {
        guard (1...16).contains(jobs) else { throw ValidationError("--jobs takes a number from 1 to 16") }
        guard maxTime.map({ $0 > 0 }) ?? true else { throw ValidationError("--max-time takes a positive number of seconds") }
        if inputs.filter({ $0 == "-" }).count > 1 { throw LoadError.standardInputTwice }
    }

    func run(in context: CommandContext) async throws {
        let paths = inputs.isEmpty ? ["-"] : inputs
        if paths.contains("-"), isatty(STDIN_FILENO) == 1 {
            throw UsageError("no archive: standard input is a terminal", hints: ["give one with -i FILE, or pipe one in: hocker image IMAGE --out - | hocker load"])
        }
        let endpoint = try DaemonEndpoint.resolve(host: host, environment: context.environment) { access($0, F_OK) == 0 }
        let deadline = maxTime.map { ContinuousClock.now + .seconds($0) }
        let spoolDirectory = context.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let loadInputs = paths.map { path in
            path == "-"
                ? LoadInput(name: "standard input") {
                    try await ArchiveStreamSource.read(from: .standardInput, name: "standard input", spoolDirectory: spoolDirectory)
                }
                : LoadInput(name: path) { try await ArchiveFileSource.open(path: path, spoolDirectory: spoolDirectory) }
        }
        let display = LoadDisplay(mode: display.progress, quiet: quiet, console: context.console)
        let reports = try await DaemonClient.connect(to: endpoint, deadline: deadline) { daemon in
            let loader = ImageLoader(daemon: daemon, force: force, jobs: jobs, deadline: deadline, observer: display)
            return await loader.load(loadInputs)
        }
        display.summarize(reports)
        let lines = LoadOutput.lines(reports)
        if !lines.isEmpty { try writeOutput(Data((lines.joined(separator: "\n") + "\n").utf8), out: nil, context: context) }
        try Self.finish(reports, context: context)
    }

    /// Ends the run: a single failed archive fails with its own error; of
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

/// Some of several archives did not load; each was reported as it failed.
struct LoadRunError: UserFacingError {
    var failed: [String]
    var total: Int

    var message: String {
        "\(failed.count) of \(total) archives did not load (\(failed.joined(separator: ", ")))"
    }
}
