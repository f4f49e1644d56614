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
import ImageLock
import ImageReference
import ImageSpec
import RegistryClient

/// The lock file use cases behind `hocker lock add`, `update` and `check`:
/// entries resolved concurrently (at most `jobs` at once) from manifests
/// alone — no layer is ever downloaded — and the file rewritten atomically,
/// only when something changed. An entry that fails leaves the others'
/// results written and itself as it was.
public struct LockWorkflow: Sendable {
    /// The lock file, as the user named it.
    public var path: String
    /// Entries worked on at once (default 8).
    public var jobs: Int
    /// Where the lock file's temporary copy is registered, so a signal can remove it.
    public let temporaryPaths: TemporaryPaths

    public init(path: String, jobs: Int = 8, temporaryPaths: TemporaryPaths) {
        self.path = path
        self.jobs = max(1, jobs)
        self.temporaryPaths = temporaryPaths
    }

    // MARK: Reading and writing

    /// The lock file; with `missingIsEmpty`, an empty one when there is none.
    public func read(missingIsEmpty: Bool = false) throws(LockFileError) -> LockFile {
        guard FileManager.default.fileExists(atPath: path) else {
            if missingIsEmpty { return LockFile() }
            throw .missing(path: path)
        }
        let bytes: Data
        do {
            bytes = try LocalFile.read(path)
        } catch {
            throw .unreadable(path: path, detail: error.reason)
        }
        return try LockFile(bytes: bytes, path: path)
    }

    /// Writes `lock` atomically (beside the target, renamed onto it), unless
    /// the file already holds these very bytes; returns whether it wrote.
    @discardableResult
    public func write(_ lock: LockFile) throws -> Bool {
        let bytes = try lock.jsonBytes()
        if let existing = try? LocalFile.read(path), existing == bytes { return false }
        try OutputWriting.write(bytes, to: path, temporaryPaths: temporaryPaths)
        return true
    }

    // MARK: add

    /// An image to add: the reference resolved against `--registry`, the
    /// reference as the user wrote it, the name and what to ask for.
    public struct Addition: Sendable {
        /// Where the registry's API is.
        public var endpoint: RegistryEndpoint
        /// The image, resolved against `--registry`.
        public var image: ImageReference
        /// The reference as given on the command line.
        public var given: String
        /// `--name`; nil for the repository's last component.
        public var name: String?
        /// The platforms asked for (`--platform`).
        public var platforms: PlatformChoice
        public var finalName: String?
        public var finalTag: String?

        public init(
            endpoint: RegistryEndpoint, image: ImageReference, given: String, name: String? = nil, platforms: PlatformChoice = .host,
            finalName: String? = nil, finalTag: String? = nil
        ) {
            self.endpoint = endpoint
            self.image = image
            self.given = given
            self.name = name
            self.platforms = platforms
            self.finalName = finalName
            self.finalTag = finalTag
        }

        /// The entry name: `--name`, else the repository's last component.
        public var entryName: String { name ?? LockFile.defaultName(repository: image.repository) }
    }

    /// What `add` did.
    public struct AddOutcome: Sendable {
        /// The entries written, by name, and whether each replaced one of the same image.
        public var added: [(entry: LockEntry, replaced: Bool)]
        public var failed: [EntryFailure]
        /// Every failure's error, by entry name, for the command line to print.
        public var errors: [String: any Error]
    }

    /// Resolves `additions` and writes them into the lock file (created when
    /// missing). A name already taken by another image, or by two of the
    /// additions, is refused before any request, naming both images; an
    /// entry of the same image is replaced.
    public func add(_ additions: [Addition], session: PullSession) async throws -> AddOutcome {
        var lock = try read(missingIsEmpty: true)
        try checkNames(additions, in: lock)
        let warn = session.options.warn
        let results = await Self.concurrently(additions, limit: jobs) { addition -> Result<LockEntry, any Error> in
            await Result {
                try await session.withSource(addition.image, endpoint: addition.endpoint, probe: .manifest) { client, source in
                    var (entry, documents) = try await Self.resolve(addition, image: source, client: client, warn: warn)
                    // What is pinned must satisfy the policy: the index and each platform's manifest.
                    entry.trust = try await session.requireTrusted(documents, of: Self.tagged(addition.image), source: source, client: client)
                    // Pinned to the registry's repository, whichever source answered: the digests are the same.
                    entry.pin.repository = addition.image.repository
                    return entry
                }
            }
        }
        var outcome = AddOutcome(added: [], failed: [], errors: [:])
        for (addition, result) in zip(additions, results) {
            switch result {
            case .success(let entry):
                outcome.added.append((entry, lock.entries[entry.name] != nil))
                lock.entries[entry.name] = entry
            case .failure(let error):
                outcome.failed.append(EntryFailure(name: addition.entryName, image: addition.image.description, error: error.userFacingMessage))
                outcome.errors[addition.entryName] = error
            }
        }
        if !outcome.added.isEmpty { try write(lock) }
        return outcome
    }

    /// Refuses, before any request, a name another image has or two additions share.
    private func checkNames(_ additions: [Addition], in lock: LockFile) throws {
        var seen: [String: Addition] = [:]
        for addition in additions {
            let name = addition.entryName
            try LockFile.validate(name: name)
            if let other = seen[name] {
                throw LockFileError.nameClash(name: name, existing: other.image.description, added: addition.image.description, path: path)
            }
            if let existing = lock.entries[name], !Self.sameImage(existing, addition) {
                throw LockFileError.nameClash(name: name, existing: existing.imageName, added: addition.image.description, path: path)
            }
            seen[name] = addition
        }
    }

    private static func sameImage(_ entry: LockEntry, _ addition: Addition) -> Bool {
        (try? entry.endpoint().name) == addition.endpoint.name && entry.pin.repository == addition.image.repository
    }

    /// An addition resolved to an entry: its pin (manifests, and a single
    /// image's config) and the request to record.
    private static func resolve(
        _ addition: Addition, image source: ImageReference, client: RegistryClient, warn: (@Sendable (String) -> Void)?
    ) async throws -> (entry: LockEntry, documents: [ManifestDocument]) {
        let (pin, documents) = try await ImagePin.resolveDocuments(
            tagged(source), platforms: addition.platforms, name: addition.entryName, registryURI: addition.endpoint.v2URL, client: client, warn: warn)
        var platforms = addition.platforms.recorded
        if platforms.isEmpty {
            // Recorded, so that an update elsewhere resolves the same platform.
            platforms = pin.indexDigest != nil ? [Platform.host.description] : pin.images.compactMap(\.platform)
        }
        let request = LockRequest(reference: addition.given, platforms: platforms, finalName: addition.finalName, finalTag: addition.finalTag)
        return (LockEntry(request: request, pin: pin), documents)
    }

    /// `image` with its tag written out: no tag and no digest means `latest`
    /// (the tag a bot bumps, and the identity a signature must claim).
    static func tagged(_ image: ImageReference) -> ImageReference {
        var image = image
        if image.tag == nil, image.digest == nil { image.tag = "latest" }
        return image
    }

    // MARK: update and check

    /// What `refresh` found: the report, and each failure's error by entry name.
    public struct RefreshOutcome: Sendable {
        public var report: LockReport
        public var errors: [String: any Error]
    }

    /// Looks at the entries `arguments` select (all when none): one `HEAD`
    /// of each entry's tag; an entry whose digest is the one written, and
    /// that holds together, is left as it is with no further request; one
    /// that moved, or was edited, is resolved again (by the digest the
    /// `HEAD` gave) for the platforms its request names. With `write`
    /// (`update`) the changes are written; without (`check`) nothing is.
    ///
    /// An entry whose new resolution lacks a platform it pinned (a moved
    /// tag of an `all` entry naming fewer images) fails, keeping its old
    /// resolution, unless `allowFewerPlatforms`.
    public func refresh(_ arguments: [String], write: Bool, allowFewerPlatforms: Bool = false, session: PullSession) async throws -> RefreshOutcome {
        let lock = try read()
        let names = try lock.select(arguments, path: path)
        var failures: [EntryFailure] = []
        var errors: [String: any Error] = [:]
        var work: [(entry: LockEntry, endpoint: RegistryEndpoint, image: ImageReference)] = []
        let insecure = session.options.insecure
        for entry in names.compactMap({ lock.entries[$0] }) {
            do {
                work.append((entry, try entry.endpoint(insecure: insecure), try entry.image(insecure: insecure)))
            } catch {
                failures.append(EntryFailure(name: entry.name, image: entry.imageName, error: error.userFacingMessage))
                errors[entry.name] = error
            }
        }
        let results = await Self.concurrently(work, limit: jobs) { item -> Result<LockEntry?, any Error> in
            await Result {
                try await session.withSource(item.image, endpoint: item.endpoint, probe: .manifestDigest) { client, source in
                    let refresh = EntryRefresh(session: session, client: client, source: source, image: item.image, write: write)
                    guard var entry = try await refresh.run(item.entry) else { return nil }
                    entry.pin.repository = item.image.repository
                    let lost = EntryChange.lostPlatforms(from: item.entry, to: entry)
                    if !lost.isEmpty, !allowFewerPlatforms {
                        throw PlatformsLost(
                            name: entry.name, image: entry.imageName, digest: entry.pin.digest, lost: lost,
                            kept: entry.pin.images.compactMap(\.platform), lockFlag: lockFlag)
                    }
                    return entry
                }
            }
        }
        var updated = lock
        var changes: [EntryChange] = []
        var unchanged: [String] = []
        for (item, result) in zip(work, results) {
            switch result {
            case .success(nil):
                unchanged.append(item.entry.name)
            case .success(let entry?):
                changes.append(EntryChange(from: item.entry, to: entry))
                updated.entries[entry.name] = entry
            case .failure(let error):
                failures.append(EntryFailure(name: item.entry.name, image: item.entry.imageName, error: error.userFacingMessage))
                errors[item.entry.name] = error
            }
        }
        let written = write && !changes.isEmpty ? try self.write(updated) : false
        return RefreshOutcome(
            report: LockReport(lockFile: path, changed: changes, unchanged: unchanged, failed: failures, written: written), errors: errors)
    }


    // MARK: Helpers

    /// `--lock-file PATH ` as a command must repeat it, or nothing for the default.
    var lockFlag: String { path == LockFile.defaultPath ? "" : "--lock-file \(path) " }

    /// `body` for every item, at most `limit` at once; the results in the items' order.
    static func concurrently<Item: Sendable, Output: Sendable>(
        _ items: [Item], limit: Int, _ body: @escaping @Sendable (Item) async -> Output
    ) async -> [Output] {
        await withTaskGroup(of: (Int, Output).self) { group in
            var results: [Output?] = Array(repeating: nil, count: items.count)
            var next = 0
            func start() {
                let index = next
                next += 1
                group.addTask { (index, await body(items[index])) }
            }
            while next < min(limit, items.count) { start() }
            while let (index, output) = await group.next() {
                results[index] = output
                if next < items.count { start() }
            }
            return results.compactMap { $0 }
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async body.
    init(_ body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
