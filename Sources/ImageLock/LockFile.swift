#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec

/// `hocker.lock.json`: many images pinned by digest, each an entry under
/// its name.
///
/// ```
/// {
///   "entries" : {
///     "app" : { <an ImagePin document: docker2nix --json>, "request" : { <LockRequest> } }
///   },
///   "formatVersion" : 1
/// }
/// ```
///
/// Written pretty-printed with keys sorted (entries by name), ending with a
/// newline, so the same content is always the same bytes: a run that
/// changes nothing leaves the file as it was, and a change shows in a diff
/// as the lines of the entry that moved.
public struct LockFile: Sendable, Hashable {
    /// The version of the file's layout. Fields are only ever added; it is
    /// raised when one changes meaning, and a file of a newer version is refused.
    public static let currentFormatVersion = 1
    /// The lock file `hocker lock` uses when not told otherwise, in the current directory.
    public static let defaultPath = "hocker.lock.json"

    /// The layout the file was written in (``currentFormatVersion`` when written).
    public var formatVersion: Int
    /// The entries by name.
    public var entries: [String: LockEntry]

    public init(entries: [String: LockEntry] = [:]) {
        formatVersion = Self.currentFormatVersion
        self.entries = entries
    }

    /// The entries' names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Parses a lock file's bytes; `path` names it in errors.
    public init(bytes: Data, path: String) throws(LockFileError) {
        struct Probe: Decodable {
            var formatVersion: Int?
        }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: bytes) else {
            throw .malformed(path: path, reason: "it is not a JSON object")
        }
        guard let version = probe.formatVersion else { throw .malformed(path: path, reason: "it has no formatVersion") }
        guard version <= Self.currentFormatVersion, version >= 1 else { throw .unsupportedVersion(path: path, version: version) }
        struct Document: Decodable {
            var formatVersion: Int
            var entries: [String: LockEntry]
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: bytes)
        } catch {
            throw .malformed(path: path, reason: DecodingProblem.describe(error))
        }
        for (name, entry) in document.entries {
            guard entry.name == name else {
                throw .malformed(path: path, reason: "the entry under \"\(name)\" names itself \"\(entry.name)\"")
            }
            do {
                try Self.validate(name: name)
            } catch {
                throw .malformed(path: path, reason: error.message)
            }
        }
        formatVersion = document.formatVersion
        entries = document.entries
    }

    /// The file's bytes: pretty-printed, keys sorted, a newline at the end.
    public func jsonBytes() throws -> Data {
        struct Document: Encodable {
            var formatVersion: Int
            var entries: [String: LockEntry]
        }
        return try JSONDocument.bytes(of: Document(formatVersion: formatVersion, entries: entries))
    }

    // MARK: Names

    /// The name an entry gets when none is given: the repository's last
    /// path component (`team/app` → `app`).
    public static func defaultName(repository: String) -> String {
        String(repository.split(separator: "/").last ?? Substring(repository))
    }

    /// Checks an entry name: 1 to 128 letters, digits, `_`, `.` and `-`,
    /// starting with a letter, digit or `_` — a name that reads the same as a
    /// Nix attribute, a shell word and a JSON key.
    public static func validate(name: String) throws(LockFileError) {
        let bytes = Array(name.utf8)
        func isWord(_ c: UInt8) -> Bool {
            (0x30...0x39).contains(c) || (0x41...0x5a).contains(c) || (0x61...0x7a).contains(c) || c == UInt8(ascii: "_")
        }
        guard (1...128).contains(bytes.count), isWord(bytes[0]),
              bytes.allSatisfy({ isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { throw .invalidName(name) }
    }

    /// The entries `arguments` name, sorted and each once: an entry's name,
    /// or an image (`registry/repository`, `repository` on Docker Hub, with
    /// or without a tag) naming every entry that pins it. No arguments: all.
    ///
    /// - Parameter path: names the file in the error for an argument that names nothing.
    public func select(_ arguments: [String], path: String) throws(LockFileError) -> [String] {
        guard !arguments.isEmpty else { return names }
        var chosen: Set<String> = []
        for argument in arguments {
            if entries[argument] != nil {
                chosen.insert(argument)
                continue
            }
            let matching = entries.values.filter { entry in
                guard let wanted = try? ImageReference(parsing: argument), let host = try? entry.endpoint().name else { return false }
                return wanted.registry == host && wanted.repository == entry.pin.repository
                    && (wanted.tag == nil || wanted.tag == entry.pin.tag)
            }
            guard !matching.isEmpty else { throw .unknownEntry(argument, path: path, names: names) }
            for entry in matching { chosen.insert(entry.name) }
        }
        return chosen.sorted()
    }


}

/// A lock file that cannot be used, or arguments that do not fit it.
public enum LockFileError: UserFacingError, Equatable {
    /// No lock file where one was expected.
    case missing(path: String)
    /// A lock file that does not parse, or holds an entry that does not.
    case malformed(path: String, reason: String)
    /// A lock file written in a newer layout than this hocker reads.
    case unsupportedVersion(path: String, version: Int)
    /// A name or image that no entry has.
    case unknownEntry(String, path: String, names: [String])
    /// Two images that would get the same entry name.
    case nameClash(name: String, existing: String, added: String, path: String)
    /// A name that cannot be an entry name.
    case invalidName(String)
    /// The file cannot be read.
    case unreadable(path: String, detail: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .unreadable: .failure
        default: .usage
        }
    }

    public var message: String {
        switch self {
        case .missing(let path):
            "no lock file \(path)"
        case .malformed(let path, let reason):
            "the lock file \(path) is not usable: \(reason)"
        case .unsupportedVersion(let path, let version):
            "the lock file \(path) has formatVersion \(version); this hocker reads \(LockFile.currentFormatVersion)"
        case .unknownEntry(let argument, let path, let names):
            "\(path) has no entry \(argument) (its entries: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
        case .nameClash(let name, let existing, let added, let path):
            "the entry name \(name) is taken twice: \(existing) and \(added) would both be \(name) in \(path)"
        case .invalidName(let name):
            "invalid entry name '\(name)': 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        case .unreadable(let path, let detail):
            "cannot read the lock file \(path): \(detail)"
        }
    }

    public var hints: [String] {
        switch self {
        case .missing:
            ["create it: hocker lock add REFERENCE (or name another with --lock-file PATH)"]
        case .malformed:
            ["fix the entry by hand, or remove it and add it again: hocker lock remove NAME; hocker lock add REFERENCE"]
        case .unsupportedVersion(_, let version) where version > LockFile.currentFormatVersion:
            ["it was written by a newer hocker: upgrade hocker to read it"]
        case .unknownEntry:
            ["name an entry, or an image it pins (registry/repository); hocker lock list shows them"]
        case .nameClash:
            ["give one another name: hocker lock add --name NAME REFERENCE (or remove the old entry: hocker lock remove NAME)"]
        default:
            []
        }
    }
}
