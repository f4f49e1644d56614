#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec

/// What moved in one entry between the lock file as written and the
/// registry now: the digest its tag names, and each platform's image.
public struct EntryChange: Codable, Sendable, Hashable {
    /// One platform's image manifest before and after; nil where the
    /// platform was not pinned (before) or is no longer (after).
    public struct PlatformChange: Codable, Sendable, Hashable {
        /// `os/arch[/variant]`, nil for an image that names none.
        @ExplicitNull public var platform: String?
        /// The image manifest's digest as the lock file had it.
        @ExplicitNull public var old: Digest?
        /// The image manifest's digest now.
        @ExplicitNull public var new: Digest?

        public init(platform: String?, old: Digest?, new: Digest?) {
            self.platform = platform
            self.old = old
            self.new = new
        }
    }

    /// The entry's name.
    public var name: String
    /// The image followed, `registry/repository:tag`, as it is now.
    public var image: String
    /// The digest the entry's images were resolved from.
    @ExplicitNull public var old: Digest?
    /// The digest the tag names now.
    public var new: Digest
    /// The tag before, when it was edited (a bot's bump); else the same as `tag`.
    @ExplicitNull public var oldTag: String?
    /// The tag followed.
    @ExplicitNull public var tag: String?
    /// Whether the registry's digest differs from the entry's `digest` as written.
    public var moved: Bool
    /// What was edited in the entry and not yet resolved, in words; empty for none.
    public var edits: [String]
    /// The platforms whose image manifest changed, appeared or went away,
    /// in the new entry's order, then those gone.
    public var platforms: [PlatformChange]

    /// The change from `old` (as written) to `new` (as resolved now).
    public init(from old: LockEntry, to new: LockEntry) {
        name = new.name
        image = new.imageName
        self.old = old.pin.resolvedDigest ?? old.pin.digest
        self.new = new.pin.digest ?? new.pin.resolvedDigest ?? old.pin.digest ?? Self.placeholder
        oldTag = old.request.referenceDigest == nil ? old.request.referenceTag : old.pin.tag
        tag = new.pin.tag
        moved = new.pin.digest != old.pin.digest
        edits = old.problems.map(\.description)
        platforms = Self.platformChanges(from: old.pin.images, to: new.pin.images)
    }


    /// The platforms `old` pinned that `new` no longer has, as `old`
    /// names them: what an update would drop (a moved tag whose index has
    /// fewer images, for an entry that pins `all`).
    public static func lostPlatforms(from old: LockEntry, to new: LockEntry) -> [String] {
        platformChanges(from: old.pin.images, to: new.pin.images).compactMap { change in
            change.new == nil ? change.platform : nil
        }
    }

    /// Never used: a resolved entry always has a digest.
    private static let placeholder = try! Digest(parsing: "sha256:" + String(repeating: "0", count: 64))

    /// Image manifests matched by platform (normalised, so `linux/arm64`
    /// and `linux/arm64/v8` are one), those that differ.
    static func platformChanges(from old: [ImagePin.PlatformImage], to new: [ImagePin.PlatformImage]) -> [PlatformChange] {
        func key(_ image: ImagePin.PlatformImage) -> String {
            image.platform.flatMap { try? Platform(parsing: $0) }.map { $0.normalized.description } ?? (image.platform ?? "")
        }
        var remaining = old
        var changes: [PlatformChange] = []
        for image in new {
            if let index = remaining.firstIndex(where: { key($0) == key(image) }) {
                let before = remaining.remove(at: index)
                if before.manifestDigest != image.manifestDigest {
                    changes.append(PlatformChange(platform: image.platform, old: before.manifestDigest, new: image.manifestDigest))
                }
            } else {
                changes.append(PlatformChange(platform: image.platform, old: nil, new: image.manifestDigest))
            }
        }
        for gone in remaining { changes.append(PlatformChange(platform: gone.platform, old: gone.manifestDigest, new: nil)) }
        return changes
    }

    /// `app: 127.0.0.1:5000/team/app:1.2 sha256:ab12…  → sha256:cd34…, linux/amd64 linux/arm64/v8`,
    /// with what was edited in brackets.
    public var line: String {
        var text = "\(name): \(image) \(old?.abbreviated ?? "none") → \(new.abbreviated)"
        let names = platforms.map { change in
            let platform = change.platform ?? "?"
            return change.new == nil ? "-\(platform)" : change.old == nil ? "+\(platform)" : platform
        }
        text += names.isEmpty ? ", no image changed" : ", " + names.joined(separator: " ")
        if !edits.isEmpty { text += " (\(edits.joined(separator: "; ")))" }
        return text
    }
}

/// An entry that could not be checked or resolved; the lock file keeps it as it was.
public struct EntryFailure: Codable, Sendable, Hashable {
    /// The entry's name.
    public var name: String
    /// The image, `registry/repository:tag`.
    public var image: String
    /// The error, in the words `hocker: error:` prints.
    public var error: String

    public init(name: String, image: String, error: String) {
        self.name = name
        self.image = image
        self.error = error
    }
}

/// What `lock update` or `lock check` found, as `--json` prints it (keys
/// sorted, entries by name):
///
/// ```
/// {
///   "changed" : [ { "name", "image", "old", "new", "oldTag", "tag", "moved", "edits",
///                   "platforms" : [ { "platform", "old", "new" } ] } ],
///   "failed" : [ { "name", "image", "error" } ],
///   "formatVersion" : 1,
///   "lockFile" : "hocker.lock.json",
///   "unchanged" : [ "name", ... ],
///   "written" : true
/// }
/// ```
public struct LockReport: Codable, Sendable, Hashable {
    /// The version of the report's layout (fields are only added).
    public var formatVersion = 1
    /// The lock file, as it was named.
    public var lockFile: String
    /// The entries resolved again (update) or to resolve again (check), by name.
    public var changed: [EntryChange]
    /// The entries whose digest is the one written, asked with one HEAD each, by name.
    public var unchanged: [String]
    /// The entries that could not be looked at; the lock file keeps them as they were.
    public var failed: [EntryFailure]
    /// Whether the lock file was rewritten (never by `check`).
    public var written: Bool

    public init(lockFile: String, changed: [EntryChange], unchanged: [String], failed: [EntryFailure], written: Bool) {
        self.lockFile = lockFile
        self.changed = changed.sorted { $0.name < $1.name }
        self.unchanged = unchanged.sorted()
        self.failed = failed.sorted { $0.name < $1.name }
        self.written = written
    }

    /// Entries looked at.
    public var total: Int { changed.count + unchanged.count + failed.count }

    /// The document `--json` prints: pretty-printed, keys sorted, a newline at the end.
    public func jsonBytes() throws -> Data {
        try JSONDocument.bytes(of: self)
    }
}

/// An update that would drop platforms the entry pins: refused, so a
/// `fromLock` for that platform keeps building, unless the user says it may.
public struct PlatformsLost: UserFacingError, Hashable {
    /// The entry's name.
    public var name: String
    /// `registry/repository:tag`, as followed.
    public var image: String
    /// What the tag names now.
    public var digest: Digest?
    /// The platforms it would lose.
    public var lost: [String]
    /// The platforms it would keep.
    public var kept: [String]
    /// `--lock-file PATH ` as a command must repeat it, or nothing for the default.
    public var lockFlag: String

    public init(name: String, image: String, digest: Digest?, lost: [String], kept: [String], lockFlag: String) {
        self.name = name
        self.image = image
        self.digest = digest
        self.lost = lost
        self.kept = kept
        self.lockFlag = lockFlag
    }

    public var message: String {
        let has = kept.isEmpty ? "none of the entry's platforms" : kept.joined(separator: ", ") + " only"
        return "\(image) now names \(digest?.abbreviated ?? "an image"), with \(has): \(lost.joined(separator: ", ")) would be dropped; the entry keeps its old resolution"
    }

    public var hints: [String] {
        ["to pin what the tag names now, without \(lost.joined(separator: ", ")): hocker lock update --allow-fewer-platforms \(lockFlag)\(name)"]
    }
}
