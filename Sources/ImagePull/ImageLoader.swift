import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageArchive
import ImageReference

/// What a load did with one image.
public enum ImageLoadOutcome: Sendable, Equatable {
    /// The archive went to the daemon; `names` are what its `Loaded image` lines said.
    case loaded(names: [String])
    /// The daemon had the image: only the names it lacked were set, no archive byte was sent.
    case tagged(id: Digest, names: [String])
    /// The daemon had the image under every name: nothing was sent or set.
    case present(id: Digest, names: [String])
}

/// A source to load, named before it is opened: opening it (reading an
/// archive's headers, resolving an image's manifest) is part of its load,
/// done when its turn comes, and a failure there is its own.
public struct LoadInput: Sendable {
    /// How the source is named in messages and output.
    public var name: String
    /// Makes the source: learns what it holds, not yet its layers.
    public var open: @Sendable () async throws -> any LoadSource

    public init(name: String, open: @escaping @Sendable () async throws -> any LoadSource) {
        self.name = name
        self.open = open
    }
}

/// What a load did with one source.
public struct LoadReport: Sendable {
    /// The source's name.
    public var source: String
    /// The outcome of each of its images, or the error that stopped it.
    public var result: Result<[ImageLoadOutcome], any Error>
    /// Bytes of archive sent to the daemon (zero when it had every image).
    public var bytesSent: Int64
}

/// Told of loads as they go; called from concurrent loads.
public protocol LoadObserver: Sendable {
    /// The archive of `source` starts going to the daemon (`bytes` long, when known).
    func sending(_ source: String, bytes: Int64?)
    /// A chunk went, or the daemon said something.
    func progress(_ source: String, _ event: LoadEvent)
    /// `source` is done, well or not.
    func finished(_ report: LoadReport)
}

/// Loads image archives into a daemon, sending only what it lacks: an
/// image whose ID (its config's digest) the daemon has is only given the
/// names it lacks (`POST /images/{id}/tag`) — no layer byte goes — unless
/// ``force`` is set. Several sources load at once, ``jobs`` at a time.
public struct ImageLoader: Sendable {
    public let daemon: DaemonClient
    /// Send every archive, even when the daemon has its images.
    public var force: Bool
    /// Sources loaded at once.
    public var jobs: Int
    /// When everything must be done (nil: no limit).
    public var deadline: ContinuousClock.Instant?
    public var observer: (any LoadObserver)?
    /// Lets the names of an image be set whole when an interrupt arrives; nil for none.
    public var shield: InterruptShield?

    public init(
        daemon: DaemonClient, force: Bool = false, jobs: Int = 2, deadline: ContinuousClock.Instant? = nil, observer: (any LoadObserver)? = nil,
        shield: InterruptShield? = nil
    ) {
        self.daemon = daemon
        self.force = force
        self.jobs = max(1, jobs)
        self.deadline = deadline
        self.observer = observer
        self.shield = shield
    }

    /// Opens and loads every input, closing each source when done; a
    /// failed one does not stop the others. The reports are in the inputs' order.
    public func load(_ inputs: [LoadInput]) async -> [LoadReport] {
        await LockWorkflow.concurrently(inputs, limit: jobs) { input in
            let report: LoadReport
            do {
                let source = try await input.open()
                report = await load(source)
                source.close()
            } catch {
                report = LoadReport(source: input.name, result: .failure(error), bytesSent: 0)
            }
            observer?.finished(report)
            return report
        }
    }

    /// Loads one source: asks for each image's ID, and either tags what is
    /// there or sends the archive.
    func load(_ source: any LoadSource) async -> LoadReport {
        do {
            if !force, let present = try await presentImages(source.contents) {
                var outcomes: [ImageLoadOutcome] = []
                for (image, details) in present {
                    outcomes.append(try await nameImage(image, details: details))
                }
                await source.discardUnsent()
                return LoadReport(source: source.name, result: .success(outcomes), bytesSent: 0)
            }
            let result = try await send(source)
            // podman puts several names on one line, comma-separated.
            let names = result.loaded.flatMap { loaded -> [String] in
                switch loaded {
                case .name(let names): names.split(separator: ",").map { String($0).trimmingSpaces }
                case .id(let id): [id]
                }
            }
            return LoadReport(source: source.name, result: .success([.loaded(names: names)]), bytesSent: result.bytesSent)
        } catch {
            return LoadReport(source: source.name, result: .failure(error), bytesSent: 0)
        }
    }

    /// Each image with the daemon's details of it, when the daemon has
    /// every image of the archive; nil when it lacks one, or when the
    /// archive does not say what it holds (an oci-archive).
    private func presentImages(_ contents: ArchiveContents) async throws -> [(ArchiveContents.Image, ImageDetails)]? {
        guard contents.format == .dockerArchive, !contents.images.isEmpty else { return nil }
        var present: [(ArchiveContents.Image, ImageDetails)] = []
        for image in contents.images {
            guard let details = try await daemon.image(image.id, deadline: deadline) else { return nil }
            present.append((image, details))
        }
        return present
    }

    /// Gives a present image the archive's names it lacks: every name
    /// checked first, then all set as one step that an interrupt lets
    /// finish (``InterruptShield``), so that Ctrl-C does not leave the image
    /// with some of its names.
    private func nameImage(_ image: ArchiveContents.Image, details: ImageDetails) async throws -> ImageLoadOutcome {
        let kind = daemon.info.kind
        let held = Set(details.repoTags.map { Self.canonicalName($0, daemon: kind) })
        let missing = image.repoTags.filter { !held.contains(Self.canonicalName($0, daemon: kind)) }
        guard !missing.isEmpty else { return .present(id: image.id, names: image.repoTags) }
        let tags = try missing.map { name in
            guard let tag = TagName(name) else { throw LoadError.badName(name) }
            return tag
        }
        let daemon = daemon
        let deadline = deadline
        let setAll: @Sendable () async throws -> Void = {
            for tag in tags { try await daemon.tag(image.id, as: tag, deadline: deadline) }
        }
        if let shield {
            try await shield.shielded(setAll)
        } else {
            try await setAll()
        }
        return .tagged(id: image.id, names: missing)
    }

    /// Sends the archive, telling the observer of its progress.
    private func send(_ source: any LoadSource) async throws -> LoadResult {
        let observer = observer
        let name = source.name
        return try await source.withBody { body in
            observer?.sending(name, bytes: body.length)
            return try await daemon.load(body, deadline: deadline) { event in observer?.progress(name, event) }
        }
    }

    /// A name spelt out whole, as `daemon` would keep it: docker shortens
    /// `docker.io/library/x:1` to `x:1` and reads `x:1` as that; podman
    /// keeps names whole, and puts a name without a registry under
    /// `localhost/`. A name that is no image reference is compared as written.
    static func canonicalName(_ name: String, daemon: DaemonInfo.Kind) -> String {
        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: name)
        } catch {
            return name
        }
        if daemon == .podman, !reference.explicitRegistry {
            return canonicalName("localhost/" + name, daemon: .docker)
        }
        return reference.description
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}

/// A load that cannot go on.
public enum LoadError: UserFacingError, Equatable {
    /// A `RepoTags` name that is not `repository:tag`.
    case badName(String)
    /// Standard input was named twice, or more than one source reads it.
    case standardInputTwice

    public var message: String {
        switch self {
        case .badName(let name): "the archive names the image '\(name)', which is not repository:tag"
        case .standardInputTwice: "standard input ('-') can be read once only"
        }
    }

    public var exitStatus: ExitStatus {
        if case .standardInputTwice = self { return .usage }
        return .failure
    }
}
