import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageArchive
import ImageLock
import ImageReference
import ImageSpec
import RegistryClient

/// One thing to load into a daemon.
public enum LoadRequest: Sendable {
    /// A docker-archive file; `-` for standard input; a FIFO is read as a stream.
    case archive(path: String)
    /// An image in a registry, resolved for `platform`: manifests only until
    /// the daemon is found to lack it, then streamed into it from the download.
    case image(ImageTarget, given: String, platform: PlatformChoice)
    /// Entries of a lock file, all when `names` is empty, each the image
    /// `platform` picks: what a daemon has is known from the lock alone.
    case lockEntries(path: String, names: [String], platform: PlatformChoice)
    /// An archive assembled from local files as it is sent: an image
    /// `nix/` built as a stream (its blobs in the Nix store), named `name`.
    case assembled(LocalImage, name: String)

    /// Whether loading it may ask a registry anything.
    public var mayUseRegistry: Bool {
        switch self {
        case .image, .lockEntries: true
        case .archive, .assembled: false
        }
    }
}

/// How a load goes: into which daemon, how many at once, with what shown.
public struct LoadSettings: Sendable {
    /// The daemon's socket.
    public var daemon: DaemonEndpoint
    /// Send every archive, even when the daemon has its images.
    public var force: Bool
    /// Sources loaded at once.
    public var jobs: Int
    /// Where a pipe's first bytes are kept while its contents are read (TMPDIR).
    public var spoolDirectory: String
    /// Told of each load as it goes; nil for none.
    public var observer: (any LoadObserver)?
    /// Lets an image's names be set whole when the run is interrupted; nil for none.
    public var shield: InterruptShield?

    public init(
        daemon: DaemonEndpoint, force: Bool = false, jobs: Int = 2, spoolDirectory: String = "/tmp", observer: (any LoadObserver)? = nil,
        shield: InterruptShield? = nil
    ) {
        self.daemon = daemon
        self.force = force
        self.jobs = jobs
        self.spoolDirectory = spoolDirectory
        self.observer = observer
        self.shield = shield
    }
}

/// A lock entry that cannot be loaded as it is written.
public enum LockLoadError: UserFacingError, Equatable {
    /// The entry was edited and not resolved again (a bumped digest).
    case doesNotHoldTogether(entry: String, problems: [String], path: String)
    /// The manifest the entry pins lists other blobs than the entry.
    case manifestDisagrees(entry: String, manifest: Digest, path: String)

    public var message: String {
        switch self {
        case .doesNotHoldTogether(let entry, let problems, let path):
            "entry '\(entry)' of \(path) does not hold together: \(problems.joined(separator: "; "))"
        case .manifestDisagrees(let entry, let manifest, let path):
            "entry '\(entry)' of \(path) lists other blobs than its manifest \(manifest.abbreviated) does"
        }
    }

    public var hints: [String] {
        switch self {
        case .doesNotHoldTogether(_, _, let path), .manifestDisagrees(_, _, let path):
            ["resolve it again with: hocker lock update --lock-file \(path)"]
        }
    }
}

extension PullSession {
    /// `hocker load`: every request into the daemon, ``LoadSettings/jobs``
    /// at once, each sending only what the daemon lacks (``ImageLoader``),
    /// the whole run within the session's deadline. An image from a
    /// registry or a lock is pulled through the session — its mirrors,
    /// clients and credentials — only when the daemon lacks it; an image the
    /// daemon has costs no registry request when it comes from a lock, and
    /// manifests only from a reference.
    ///
    /// - Returns: one report per source, in the requests' order (a lock's
    ///   entries in the order of their names).
    /// - Throws: before anything is loaded, when a lock file cannot be read
    ///   or names an entry it lacks, and when the daemon cannot be reached.
    public func load(_ requests: [LoadRequest], settings: LoadSettings) async throws -> [LoadReport] {
        var inputs: [LoadInput] = []
        for request in requests {
            inputs += try loadInputs(request, spoolDirectory: settings.spoolDirectory)
        }
        let instant = deadline.instant
        return try await DaemonClient.connect(to: settings.daemon, deadline: instant) { daemon in
            let loader = ImageLoader(
                daemon: daemon, force: settings.force, jobs: settings.jobs, deadline: instant, observer: settings.observer, shield: settings.shield)
            return await loader.load(inputs)
        }
    }

    /// The sources of one request, each opened when its turn comes.
    private func loadInputs(_ request: LoadRequest, spoolDirectory: String) throws -> [LoadInput] {
        switch request {
        case .archive(let path) where path == "-":
            return [LoadInput(name: "standard input") {
                try await ArchiveStreamSource.read(from: .standardInput, name: "standard input", spoolDirectory: spoolDirectory)
            }]
        case .archive(let path):
            return [LoadInput(name: path) { try await ArchiveFileSource.open(path: path, spoolDirectory: spoolDirectory) }]
        case .image(let target, let given, let platform):
            return [LoadInput(name: given) { try await self.imageSource(target, name: given, platform: platform) }]
        case .lockEntries(let path, let names, let platform):
            let lock = try LockWorkflow(path: path, temporaryPaths: options.temporaryPaths).read()
            return try lock.select(names, path: path).compactMap { lock.entries[$0] }.map { entry in
                LoadInput(name: entry.name) { try self.lockSource(entry, path: path, platform: platform) }
            }
        case .assembled(let image, let name):
            return [LoadInput(name: name) { try await AssembledArchiveSource.open(image, name: name) }]
        }
    }

    /// An image in a registry: resolved through the first source that
    /// answers, for `platform`, from manifests alone (a single image's
    /// config is read only when a platform was asked, to check it); its
    /// archive streamed from that source when the daemon lacks it, named as
    /// `hocker image` names it. Under a signature policy, the manifest must
    /// satisfy it first, as `hocker image` checks it: a refused image is
    /// neither looked up in the daemon nor sent.
    func imageSource(_ target: ImageTarget, name: String, platform: PlatformChoice) async throws -> any LoadSource {
        try await withSource(target.reference, endpoint: target.endpoint, probe: .manifest) { client, image in
            let puller = puller(client, observed: false)
            let resolution = try await puller.resolve(image, platform: platform, readConfig: false)
            _ = try await requireTrusted([resolution.image.document], of: target.reference, source: image, client: client)
            let manifest = resolution.image.manifest
            let reference = target.reference
            let names = reference.archiveNames
            let known = resolution.configBytes.map { [manifest.config.digest: $0] } ?? [:]
            return try WrittenArchiveSource.dockerArchive(name: name, config: manifest.config, layers: manifest.layers, repoTags: names) { layout, pipe in
                try await puller.stream(layout, of: image, into: pipe, shownPath: "the archive of \(name)", known: known, readHere: true)
            }
        }
    }

    /// A lock entry: its image ID (the config digest) and names straight
    /// from the lock, no request made. When the daemon lacks it, its
    /// manifest is fetched by digest through the session's sources, checked
    /// against the entry, and the archive streamed from there. No signature
    /// policy applies: the digest is the pin, and the lock's `trust` the
    /// proof (`lock check` verifies it again), as for the Nix builders.
    func lockSource(_ entry: LockEntry, path: String, platform: PlatformChoice) throws -> any LoadSource {
        let problems = entry.problems
        guard problems.isEmpty else {
            throw LockLoadError.doesNotHoldTogether(entry: entry.name, problems: problems.map(\.description), path: path)
        }
        let pinned = try entry.pin.image(for: platform)
        let names = try entry.loadedNames()
        let insecure = options.insecure
        return try WrittenArchiveSource.dockerArchive(name: entry.name, config: pinned.config, layers: pinned.layers, repoTags: names) { layout, pipe in
            var image = try entry.image(insecure: insecure)
            image.digest = pinned.manifestDigest
            try await self.withSource(image, endpoint: try entry.endpoint(insecure: insecure), probe: .manifest) { client, source in
                let manifest = try await client.fetchManifest(source).imageManifest
                guard let manifest, Self.sameBlobs([manifest.config] + manifest.layers, [pinned.config] + pinned.layers) else {
                    throw LockLoadError.manifestDisagrees(entry: entry.name, manifest: pinned.manifestDigest, path: path)
                }
                try await self.puller(client, observed: false).stream(
                    layout, of: source, into: pipe, shownPath: "the archive of \(entry.name)", known: [:], readHere: true)
            }
        }
    }

    /// Whether two lists name the same blobs: digests and sizes, in order.
    static func sameBlobs(_ one: [Descriptor], _ other: [Descriptor]) -> Bool {
        one.map(\.digest) == other.map(\.digest) && one.map(\.size) == other.map(\.size)
    }
}
