import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageLock
import ImagePull
import ImageReference
import ImageSpec
import RegistryClient

/// `hocker lock`: many images pinned by digest in one file.
struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Pin many images by digest in a lock file (hocker.lock.json), and keep the pins fresh.",
        discussion: """
            Every entry keeps what was asked (the reference, the platforms, the final name) and \
            what it resolved to: the digest the tag names and, per platform, the manifest, \
            config and layer digests, sizes and media types — manifests only, no layer is ever \
            downloaded. 'update' asks the registry one HEAD per entry and resolves again only \
            the entries that moved; 'check' does the same and writes nothing, failing when \
            anything moved or an entry was edited (a bot's bump of its tag or digest) and not \
            yet resolved. nix/'s fromLock builds every entry.

            Examples:
              hocker lock add 127.0.0.1:5000/team/app:1.2 --platform all
              hocker lock add --name base debian:bookworm --final-name base:stable
              hocker lock update          # or: hocker lock update app
              hocker lock check           # in CI: exit 1 when the file is stale
            """,
        subcommands: [LockAddCommand.self, LockUpdateCommand.self, LockCheckCommand.self, LockRemoveCommand.self, LockListCommand.self])
}

/// `--lock-file`, shared by the lock commands.
struct LockFileOptions: ParsableArguments {
    @Option(name: .customLong("lock-file"), help: ArgumentHelp("The lock file; a relative path is from the current directory.", valueName: "PATH"))
    var lockFile: String = LockFile.defaultPath

    /// `--lock-file PATH ` as a command must repeat it, or nothing for the default.
    var flag: String { lockFile == LockFile.defaultPath ? "" : "--lock-file \(lockFile) " }
}

/// `--jobs` of the lock commands that talk to registries.
struct LockJobsOption: ParsableArguments {
    @Option(help: ArgumentHelp("Entries resolved at once.", valueName: "N"))
    var jobs = 8

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs takes a number from 1 to 64") }
    }
}

/// One line per failed entry on stderr (`hocker: error: NAME: …`, its hints below).
private func reportFailures(_ failures: [EntryFailure], errors: [String: any Error], context: CommandContext) {
    for failure in failures {
        let hints = (errors[failure.name] as? any UserFacingError)?.hints ?? []
        let lines = HockerMain.errorLines("\(failure.name): \(failure.error)", hints: hints)
        context.console.note(context.redactor.redact(lines.joined(separator: "\n")))
    }
}

/// A lock run that did not fully succeed: its entries were reported line
/// by line above; this is the summary the process ends with.
enum LockRunError: UserFacingError {
    /// Entries failed: the lock file keeps them as they were (`existed`),
    /// or, for entries being added, does not get them.
    case entriesFailed(failed: [String], total: Int, path: String, written: Bool, existed: Bool)
    /// `check` found entries that moved or were edited.
    case outOfDate(names: [String], total: Int, lockFlag: String, path: String)

    var message: String {
        switch self {
        case .entriesFailed(let failed, let total, let path, let written, let existed):
            let one = failed.count == 1
            let fate =
                existed
                ? "\(path) keeps \(one ? "it as it was" : "them as they were")\(written ? ", with the others' changes written" : "")"
                : (written ? "the others were added to \(path)" : "\(path) is unchanged")
            return "\(failed.count) of \(Self.entries(total)) failed (\(failed.joined(separator: ", "))); \(fate)"
        case .outOfDate(let names, let total, _, let path):
            return "\(path) is out of date: \(names.count) of \(Self.entries(total)) moved or \(names.count == 1 ? "was" : "were") edited (\(names.joined(separator: ", ")))"
        }
    }

    /// `1 entry`, `2 entries`.
    static func entries(_ count: Int) -> String { "\(count) \(count == 1 ? "entry" : "entries")" }

    var hints: [String] {
        switch self {
        case .entriesFailed(_, _, _, _, existed: true):
            ["fix what the lines above say, then run the command again; the entries that succeeded are not asked again for nothing"]
        case .entriesFailed:
            ["fix what the lines above say, then add the failed ones again"]
        case .outOfDate(let names, _, let lockFlag, _):
            ["resolve them again: hocker lock update \(lockFlag)\(names.joined(separator: " "))"]
        }
    }
}

// MARK: add

/// `hocker lock add`.
struct LockAddCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Resolve images and write them into the lock file (created when missing).",
        discussion: """
            Each REFERENCE is resolved from its manifests (and, for a single-platform image, its \
            config), nothing else: no layer is downloaded. The entry is named after the \
            repository's last path component (team/app → app) unless --name says otherwise; a \
            name another image has is refused, naming both; adding the same image again \
            replaces its entry. Without --platform an index gives this machine's platform \
            (recorded, so an update elsewhere resolves the same); --platform all pins every \
            image of the index.

            Examples:
              hocker lock add 127.0.0.1:5000/team/app:1.2 ghcr.io/org/tool:v3
              hocker lock add --platform linux/amd64 --platform linux/arm64 debian:bookworm
              hocker lock add --name web --final-name web:prod --authfile auth.json registry.example/team/web:2.0
            """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var lockOptions: LockFileOptions
    @OptionGroup var jobsOption: LockJobsOption
    @OptionGroup var trust: TrustOptions

    @Option(help: ArgumentHelp("The entry's name (one REFERENCE only; default: the repository's last path component).", valueName: "NAME"))
    var name: String?

    @Option(name: .customLong("final-name"), help: ArgumentHelp("The name (and tag) the loaded image gets (one REFERENCE only).", valueName: "NAME[:TAG]"))
    var finalName: String?

    @Argument(help: ArgumentHelp("Images: debian:bookworm, 127.0.0.1:5000/team/app:1.2, or names relative to --registry.", valueName: "REFERENCE"))
    var references: [String]

    func validate() throws {
        if name != nil, references.count > 1 { throw ValidationError("--name names one entry; give one REFERENCE with it") }
        if finalName != nil, references.count > 1 { throw ValidationError("--final-name is for one entry; give one REFERENCE with it") }
        if let name { try LockFile.validate(name: name) }
        if try registryOptions.platformChoice() == .any { throw ValidationError("lock add pins named platforms, or all: --platform any is not one") }
        if let finalName { _ = try Self.splitFinalName(finalName) }
    }

    /// `, signed by KEY…` when the entry records who signed what it pins; nothing otherwise.
    static func signers(_ entry: LockEntry) -> String {
        let proofs = (entry.trust ?? [:]).values.flatMap { $0 }
        let signers = Set(proofs.compactMap { $0.keyFingerprint ?? $0.certificateIdentity }).sorted()
        return signers.isEmpty ? "" : ", signed by \(signers.joined(separator: ", "))"
    }

    /// `NAME[:TAG]` checked as an image name, split at the tag's colon.
    static func splitFinalName(_ text: String) throws -> (name: String, tag: String?) {
        let reference = try ImageReference(parsing: text)
        guard reference.digest == nil else { throw ValidationError("--final-name takes NAME[:TAG], not a digest") }
        guard let tag = reference.tag else { return (text, nil) }
        return (String(text.dropLast(tag.count + 1)), tag)
    }

    func run(in context: CommandContext) async throws {
        let final = try finalName.map(Self.splitFinalName)
        let platforms = try registryOptions.platformChoice()
        var additions: [LockWorkflow.Addition] = []
        for text in references {
            let target = try ImageTarget(name: text, tag: nil, registry: registryOptions.registry, insecure: registryOptions.insecure)
            additions.append(LockWorkflow.Addition(
                endpoint: target.endpoint, image: target.reference, given: text, name: name, platforms: platforms,
                finalName: final?.name, finalTag: final?.tag))
        }
        let workflow = LockWorkflow(path: lockOptions.lockFile, jobs: jobsOption.jobs, temporaryPaths: context.temporaryPaths)
        let requested = additions
        let outcome = try await registryOptions.withSession(context: context, trust: trust) { session in
            try await session.lockAdd(requested, workflow: workflow)
        }
        try printLines(outcome.added.map { entry, replaced in
            "\(replaced ? "replaced" : "added") \(entry.name): \(entry.imageName) \(entry.pin.digest?.abbreviated ?? "?"), \(entry.platformNames.joined(separator: " "))"
                + Self.signers(entry)
        }, context: context)
        guard outcome.failed.isEmpty else {
            reportFailures(outcome.failed, errors: outcome.errors, context: context)
            throw LockRunError.entriesFailed(
                failed: outcome.failed.map(\.name), total: additions.count, path: lockOptions.lockFile, written: !outcome.added.isEmpty,
                existed: false)
        }
    }
}

// MARK: update and check

/// What `update` and `check` share: the entries named, one HEAD each.
struct LockRefreshOptions: ParsableArguments {
    // No --registry, no --platform: each entry names its registry and keeps the platforms it was added with.
    @OptionGroup var registryOptions: ConnectionOptions
    @OptionGroup var lockOptions: LockFileOptions
    @OptionGroup var jobsOption: LockJobsOption
    @OptionGroup var trust: TrustOptions

    @Flag(help: "Print the changes as a JSON document (old and new digest per entry and per platform).")
    var json = false

    @Flag(
        name: .customLong("allow-fewer-platforms"),
        help: """
            Let an entry whose tag moved to an index with fewer platforms drop the ones it lost; without it such an \
            entry fails and keeps its old resolution.
            """)
    var allowFewerPlatforms = false

    @Argument(help: ArgumentHelp("Entries by name, or images (registry/repository) naming the entries that pin them; default: all.", valueName: "NAME"))
    var names: [String] = []

    // Not for these commands, so not in their help: parsed only to say why.
    @Option(name: .customLong("platform"), help: .hidden)
    var platforms: [String] = []

    @Option(help: .hidden)
    var registry: String?

    func validate() throws {
        if !platforms.isEmpty {
            throw ValidationError("--platform is not for this command: each entry keeps the platforms it was added with (hocker lock add to change them)")
        }
        if registry != nil {
            throw ValidationError("--registry is not for this command: each entry names its registry")
        }
    }

    /// Runs the refresh and prints its report; returns it.
    func run(write: Bool, context: CommandContext) async throws -> LockReport {
        let workflow = LockWorkflow(path: lockOptions.lockFile, jobs: jobsOption.jobs, temporaryPaths: context.temporaryPaths)
        let (names, allowFewerPlatforms) = (names, allowFewerPlatforms)
        let outcome = try await registryOptions.withSession(context: context, trust: trust) { session in
            try await session.lockRefresh(names, write: write, allowFewerPlatforms: allowFewerPlatforms, workflow: workflow)
        }
        let report = outcome.report
        if json {
            try writeOutput(try report.jsonBytes(), out: nil, context: context)
        } else {
            var lines = report.changed.map(\.line)
            if !registryOptions.quiet, report.failed.isEmpty {
                lines.append(summary(report, write: write))
            }
            try printLines(lines, context: context)
        }
        if !report.failed.isEmpty {
            reportFailures(report.failed, errors: outcome.errors, context: context)
            throw LockRunError.entriesFailed(
                failed: report.failed.map(\.name), total: report.total, path: report.lockFile, written: report.written, existed: true)
        }
        return report
    }

    private func summary(_ report: LockReport, write: Bool) -> String {
        let total = "\(report.total) \(report.total == 1 ? "entry" : "entries")"
        guard !report.changed.isEmpty else { return "\(total) up to date in \(report.lockFile)" }
        if write {
            return "\(report.changed.count) of \(total) resolved again, \(report.unchanged.count) unchanged; \(report.lockFile) \(report.written ? "updated" : "already held them")"
        }
        return "\(report.changed.count) of \(total) out of date in \(report.lockFile)"
    }
}

/// `hocker lock update`.
struct LockUpdateCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Resolve again the entries whose tag moved, or that were edited; write them.",
        discussion: """
            One HEAD of each entry's tag (a GET only where the registry gives no digest on HEAD). \
            An entry whose digest is unchanged is left as it is, with no further request; one \
            that moved — or whose tag or digest was edited, say by a bot's bump — is resolved \
            again for the platforms it was added with. Prints a line per entry resolved again \
            and a summary; a run that changes nothing leaves the file byte for byte as it was. \
            An entry that fails keeps its old resolution; the others are written, and the exit \
            status is 1.

            Examples:
              hocker lock update
              hocker lock update app base --json
              hocker lock update 127.0.0.1:5000/team/app     # the entries that pin this image
            """)

    @OptionGroup var options: LockRefreshOptions

    func run(in context: CommandContext) async throws {
        _ = try await options.run(write: true, context: context)
    }
}

/// `hocker lock check`.
struct LockCheckCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that the lock file is current; write nothing (for CI).",
        discussion: """
            The same requests as 'update', and the same lines; exit status 1 when an entry moved, \
            was edited and not resolved again (its images do not belong to its digest, or its \
            tag is not the one it was resolved for), or could not be checked.

            Examples:
              hocker lock check
              hocker lock check --json app
            """)

    @OptionGroup var options: LockRefreshOptions

    func run(in context: CommandContext) async throws {
        let report = try await options.run(write: false, context: context)
        guard report.changed.isEmpty else {
            throw LockRunError.outOfDate(
                names: report.changed.map(\.name), total: report.total, lockFlag: options.lockOptions.flag, path: report.lockFile)
        }
    }
}

// MARK: remove and list

/// `hocker lock remove`.
struct LockRemoveCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove entries from the lock file.",
        discussion: """
            Examples:
              hocker lock remove app base
            """)

    @OptionGroup var lockOptions: LockFileOptions

    @Argument(help: ArgumentHelp("Entries by name, or images (registry/repository) naming the entries that pin them.", valueName: "NAME"))
    var names: [String]

    func run(in context: CommandContext) async throws {
        let workflow = LockWorkflow(path: lockOptions.lockFile, temporaryPaths: context.temporaryPaths)
        var lock = try workflow.read()
        let chosen = try lock.select(names, path: lockOptions.lockFile)
        for name in chosen { lock.entries[name] = nil }
        try workflow.write(lock)
        try printLines(chosen.map { "removed \($0)" }, context: context)
    }
}

/// `hocker lock list`.
struct LockListCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the lock file's entries: name, reference, digest, platforms, total size.",
        discussion: """
            The size is that of every distinct blob (configs and layers, as stored) of the \
            entry's platforms: what fetching them all takes. No request is made.
            """)

    @OptionGroup var lockOptions: LockFileOptions

    func run(in context: CommandContext) async throws {
        let lock = try LockWorkflow(path: lockOptions.lockFile, temporaryPaths: context.temporaryPaths).read()
        let rows = [["NAME", "REFERENCE", "DIGEST", "PLATFORMS", "SIZE"]] + lock.names.compactMap { lock.entries[$0] }.map { entry in
            [entry.name, entry.imageName, entry.pin.digest?.abbreviated ?? "?", entry.platformNames.joined(separator: " "),
             ProgressReporter.formatBytes(entry.totalSize)]
        }
        try printLines(Self.table(rows), context: context)
    }

    /// Rows as columns padded to their widest cell, two spaces apart.
    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        let widths = (0..<columns).map { column in rows.map { $0.count > column ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[column] - cell.count))
            }.joined(separator: "  ")
        }
    }
}
